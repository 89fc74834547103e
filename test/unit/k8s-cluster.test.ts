import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, loadAllYaml } from '@kubernetes/client-node';
import { expect } from 'chai';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import nock from 'nock';
import { loadKubeConfig } from '../../src/k8s/api.js';
import { KubeApiError } from '../../src/k8s/errors.js';
import { RolloutFailedError, RolloutTimeoutError, createKubeCluster, type KubeClusterOptions } from '../../src/k8s/cluster.js';
import { renderPreview, type KubeObject } from '../../src/k8s/manifests.js';
import { kubeStatus, resourceList, tokenKubeConfig } from '../support/kube-shapes.js';

const API = 'https://k8s.test:6443';
const TOKEN = 'test-service-account-token';
const SHA = '3f786850e387550fdab836ed7e6dc881de23001b';
const APPLY_QUERY = '?fieldManager=aiworker&force=true';

const testKubeConfig = (): KubeConfig => tokenKubeConfig(API, TOKEN);

function cluster(o: Partial<KubeClusterOptions> = {}) {
  return createKubeCluster({ kubeConfig: testKubeConfig(), ...o });
}

function api() {
  return nock(API, { reqheaders: { authorization: `Bearer ${TOKEN}` } });
}

async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error('expected the promise to reject');
}

/** What `KubernetesObjectApi` asks for to map kinds to resource paths. */
function discovery() {
  return api()
    .get('/api/v1')
    .reply(200, resourceList('v1', [['namespaces', 'Namespace', false], ['services', 'Service', true], ['pods', 'Pod', true]]))
    .get('/apis/apps/v1')
    .reply(200, resourceList('apps/v1', [['deployments', 'Deployment', true], ['replicasets', 'ReplicaSet', true]]))
    .get('/apis/networking.k8s.io/v1')
    .reply(200, resourceList('networking.k8s.io/v1', [['ingresses', 'Ingress', true]]));
}

/** Apply bodies arrive as text: nock only decodes JSON content types. */
function parse(body: unknown): any {
  return typeof body === 'string' ? JSON.parse(body) : body;
}

/** The applied object as the API server returns it. */
function applied(raw: unknown) {
  const body = parse(raw);
  return {
    ...body,
    metadata: {
      ...body.metadata,
      uid: '0b6d7c4e-3f0a-4d43-9a51-0d6c1c1b2f10',
      resourceVersion: '12345',
      generation: 1,
      creationTimestamp: '2025-01-01T00:00:00Z',
      managedFields: [{ manager: 'aiworker', operation: 'Apply', apiVersion: body.apiVersion, fieldsType: 'FieldsV1' }],
    },
  };
}

function objects(): KubeObject[] {
  return renderPreview({
    projectId: 3,
    projectName: 'shop',
    taskId: 1,
    headSha: SHA,
    previewDomain: 'preview.example.com',
    expiresAt: new Date('2030-01-01T00:00:00Z'),
    settings: { image: 'registry.example.com/shop', ingressClassName: 'nginx' },
  });
}

interface DeploymentStatus {
  generation?: number;
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  availableReplicas?: number;
  available?: 'True' | 'False';
  progressing?: { status: 'True' | 'False'; reason: string; message: string };
}

function deployment(s: DeploymentStatus) {
  const conditions = [];
  if (s.available) {
    conditions.push({
      type: 'Available',
      status: s.available,
      reason: s.available === 'True' ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
      message: s.available === 'True' ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.',
      lastUpdateTime: '2025-01-01T00:00:10Z',
      lastTransitionTime: '2025-01-01T00:00:10Z',
    });
  }
  if (s.progressing) {
    conditions.push({ type: 'Progressing', ...s.progressing, lastUpdateTime: '2025-01-01T00:00:10Z', lastTransitionTime: '2025-01-01T00:00:10Z' });
  }
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'preview', namespace: 'preview-task-1', generation: s.generation ?? 2, resourceVersion: '99' },
    spec: { replicas: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'preview' } }, template: { spec: { containers: [] } } },
    status: {
      observedGeneration: s.observedGeneration ?? 2,
      replicas: s.replicas,
      updatedReplicas: s.updatedReplicas,
      availableReplicas: s.availableReplicas,
      readyReplicas: s.availableReplicas,
      conditions,
    },
  };
}

const DEPLOYMENT_PATH = '/apis/apps/v1/namespaces/preview-task-1/deployments/preview';
const NEW_RS_PROGRESSING = { status: 'True' as const, reason: 'ReplicaSetUpdated', message: 'ReplicaSet "preview-7d9f" is progressing.' };
const COMPLETE = { status: 'True' as const, reason: 'NewReplicaSetAvailable', message: 'ReplicaSet "preview-7d9f" has successfully progressed.' };

const APP_PATH = '/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/shop-preview-1';
const PREVIOUS_START = '2025-01-01T00:00:00Z';

interface AppState {
  operation?: boolean;
  phase?: string;
  message?: string;
  startedAt?: string;
  revision?: string;
}

function application(s: AppState) {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name: 'shop-preview-1', namespace: 'argocd', resourceVersion: '777', generation: 5 },
    spec: {
      project: 'default',
      source: { repoURL: 'https://gitea.example.com/acme/shop.git', path: 'deploy', targetRevision: 'HEAD' },
      destination: { server: 'https://kubernetes.default.svc', namespace: 'preview-task-1' },
    },
    ...(s.operation ? { operation: { initiatedBy: { username: 'aiworker' }, sync: { revision: SHA } } } : {}),
    status: {
      sync: { status: 'Synced', revision: s.revision ?? 'aaaaaaa' },
      health: { status: 'Healthy' },
      summary: { externalURLs: ['https://task-1.preview.example.com/'], images: [`registry.example.com/shop:${SHA}`] },
      operationState: {
        operation: { initiatedBy: { username: 'aiworker' }, sync: { revision: s.revision ?? 'aaaaaaa' } },
        phase: s.phase ?? 'Succeeded',
        message: s.message ?? 'successfully synced (all tasks run)',
        startedAt: s.startedAt ?? PREVIOUS_START,
        ...(s.phase === 'Running' ? {} : { finishedAt: '2025-01-01T00:01:00Z' }),
        syncResult: { revision: s.revision ?? 'aaaaaaa', source: { repoURL: 'https://gitea.example.com/acme/shop.git' }, resources: [] },
      },
    },
  };
}

describe('k8s cluster (client-node against a fake API server)', () => {
  before(() => nock.disableNetConnect());
  afterEach(() => nock.cleanAll());
  after(() => nock.enableNetConnect());

  describe('apply', () => {
    it('server-side applies every object in order, as field manager aiworker with force', async () => {
      const manifests = objects();
      const seen: Array<{ method: string; uri: string; contentType: unknown; body: unknown }> = [];
      const disc = discovery();
      api()
        .persist()
        .patch(/.*/)
        .query(true)
        .reply(function (uri, body) {
          seen.push({ method: this.req.method, uri, contentType: this.req.headers['content-type'], body: parse(body) });
          return [200, applied(body)];
        });

      await cluster().apply(manifests);

      expect(disc.isDone()).to.equal(true);
      expect(seen.map((r) => `${r.method} ${r.uri}`)).to.deep.equal([
        `PATCH /api/v1/namespaces/preview-task-1${APPLY_QUERY}`,
        `PATCH /apis/apps/v1/namespaces/preview-task-1/deployments/preview${APPLY_QUERY}`,
        `PATCH /api/v1/namespaces/preview-task-1/services/preview${APPLY_QUERY}`,
        `PATCH /apis/networking.k8s.io/v1/namespaces/preview-task-1/ingresses/preview${APPLY_QUERY}`,
      ]);
      expect(seen.map((r) => r.contentType)).to.deep.equal(Array(4).fill('application/apply-patch+yaml'));
      // The body is the full intended state, unchanged by the client's typed serializer.
      expect(seen.map((r) => r.body)).to.deep.equal(JSON.parse(JSON.stringify(manifests)));
    });

    it('is repeatable and discovers each API group only once per client', async () => {
      const k8s = cluster();
      // Each discovery reply is registered once: a second lookup would find no match and fail the apply.
      discovery();
      const paths: string[] = [];
      api()
        .persist()
        .patch(/.*/)
        .query(true)
        .reply(function (uri, body) {
          paths.push(uri);
          return [200, applied(body)];
        });
      await k8s.apply(objects());
      await k8s.apply(objects());
      expect(paths).to.have.length(8);
      expect(paths.slice(4)).to.deep.equal(paths.slice(0, 4));
    });

    it('surfaces a 422 Invalid Status as a non-retryable KubeApiError with its message, and stops', async () => {
      discovery();
      const message =
        'Deployment.apps "preview" is invalid: spec.template.spec.containers[0].image: Required value';
      const scope = api()
        .patch(`/api/v1/namespaces/preview-task-1${APPLY_QUERY}`)
        .reply(200, (_uri, body) => applied(body))
        .patch(`/apis/apps/v1/namespaces/preview-task-1/deployments/preview${APPLY_QUERY}`)
        .reply(422, kubeStatus(422, 'Invalid', message, { name: 'preview', group: 'apps', kind: 'Deployment' }));
      const service = api().patch(`/api/v1/namespaces/preview-task-1/services/preview${APPLY_QUERY}`).reply(200, {});

      const error = await rejection(cluster().apply(objects()));

      expect(error).to.be.instanceOf(KubeApiError);
      expect(error.status).to.equal(422);
      expect(error.retryable).to.equal(false);
      expect(error.reason).to.equal('Invalid');
      expect(error.message).to.equal(`apply Deployment preview-task-1/preview failed: HTTP 422 Invalid: ${message}`);
      expect(scope.isDone()).to.equal(true);
      expect(service.isDone()).to.equal(false);
    });

    it('surfaces a 503 as a retryable KubeApiError', async () => {
      discovery();
      api()
        .patch(`/api/v1/namespaces/preview-task-1${APPLY_QUERY}`)
        .reply(503, kubeStatus(503, 'ServiceUnavailable', 'the server is currently unable to handle the request'));

      const error = await rejection(cluster().apply(objects()));

      expect(error).to.be.instanceOf(KubeApiError);
      expect(error.status).to.equal(503);
      expect(error.retryable).to.equal(true);
      expect(error.message).to.equal(
        'apply Namespace preview-task-1 failed: HTTP 503 ServiceUnavailable: the server is currently unable to handle the request',
      );
    });

    it('treats a failed discovery request like the apply itself', async () => {
      api().get('/api/v1').reply(429, kubeStatus(429, 'TooManyRequests', 'too many requests'));
      const error = await rejection(cluster().apply(objects()));
      expect(error).to.be.instanceOf(KubeApiError);
      expect(error).to.include({ status: 429, retryable: true });
      expect(error.message).to.match(/^apply Namespace preview-task-1 failed: HTTP 429 TooManyRequests/);
    });

    it('surfaces network errors as retryable, without a status', async () => {
      // nock needs a real Error here: a plain object leaves the request hanging.
      const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:6443'), { code: 'ECONNREFUSED', syscall: 'connect' });
      api().get('/api/v1').replyWithError(refused);
      const error = await rejection(cluster().apply(objects()));
      expect(error).to.be.instanceOf(KubeApiError);
      expect(error).to.include({ status: null, retryable: true });
      expect(error.message).to.match(/^apply Namespace preview-task-1 failed: .*ECONNREFUSED/);
    });

    it('aborts a stalled request after requestTimeoutMs as a retryable timeout', async () => {
      api().get('/api/v1').delay(2_000).reply(200, resourceList('v1', []));
      const started = Date.now();
      const error = await rejection(cluster({ requestTimeoutMs: 100 }).apply(objects()));
      expect(Date.now() - started).to.be.below(1_500);
      expect(error).to.be.instanceOf(KubeApiError);
      expect(error).to.include({ status: null, retryable: true });
      expect(error.message).to.match(/timed out/);
    });
  });

  describe('waitForRollout', () => {
    it('polls until the rollout is available', async () => {
      const scope = api()
        .get(DEPLOYMENT_PATH)
        .reply(200, deployment({ generation: 2, observedGeneration: 1, replicas: 1, updatedReplicas: 0, availableReplicas: 1, available: 'True', progressing: COMPLETE }))
        .get(DEPLOYMENT_PATH)
        .reply(200, deployment({ replicas: 2, updatedReplicas: 1, availableReplicas: 1, available: 'True', progressing: NEW_RS_PROGRESSING }))
        .get(DEPLOYMENT_PATH)
        .reply(200, deployment({ replicas: 1, updatedReplicas: 1, availableReplicas: 0, available: 'False', progressing: NEW_RS_PROGRESSING }))
        .get(DEPLOYMENT_PATH)
        .reply(200, deployment({ replicas: 1, updatedReplicas: 1, availableReplicas: 1, available: 'True', progressing: COMPLETE }));

      await cluster().waitForRollout('preview-task-1', 'preview', 5_000, 10);

      expect(scope.isDone()).to.equal(true);
    });

    it('fails at once on ProgressDeadlineExceeded', async () => {
      const scope = api()
        .get(DEPLOYMENT_PATH)
        .reply(
          200,
          deployment({
            replicas: 1,
            updatedReplicas: 1,
            availableReplicas: 0,
            available: 'False',
            progressing: { status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "preview-7d9f" has timed out progressing.' },
          }),
        );
      const later = api().get(DEPLOYMENT_PATH).reply(200, deployment({}));

      const error = await rejection(cluster().waitForRollout('preview-task-1', 'preview', 5_000, 10));

      expect(error).to.be.instanceOf(RolloutFailedError);
      expect(error.reason).to.equal('ProgressDeadlineExceeded');
      expect(error.message).to.equal(
        'rollout of deployment preview-task-1/preview failed (ProgressDeadlineExceeded): ReplicaSet "preview-7d9f" has timed out progressing.',
      );
      expect(scope.isDone()).to.equal(true);
      expect(later.isDone()).to.equal(false);
    });

    it('throws RolloutTimeoutError with the last state when the timeout runs out', async () => {
      api()
        .persist()
        .get(DEPLOYMENT_PATH)
        .reply(200, deployment({ replicas: 1, updatedReplicas: 1, availableReplicas: 0, available: 'False', progressing: NEW_RS_PROGRESSING }));

      const started = Date.now();
      const error = await rejection(cluster().waitForRollout('preview-task-1', 'preview', 150, 20));

      expect(Date.now() - started).to.be.within(140, 1_000);
      expect(error).to.be.instanceOf(RolloutTimeoutError);
      expect(error.message).to.equal(
        'rollout of deployment preview-task-1/preview not available after 150 ms: 0 of 1 updated replicas available',
      );
    });

    it('keeps polling through retryable API errors', async () => {
      const scope = api()
        .get(DEPLOYMENT_PATH)
        .reply(503, kubeStatus(503, 'ServiceUnavailable', 'etcd leader changed'))
        .get(DEPLOYMENT_PATH)
        .reply(200, deployment({ replicas: 1, updatedReplicas: 1, availableReplicas: 1, available: 'True', progressing: COMPLETE }));

      await cluster().waitForRollout('preview-task-1', 'preview', 5_000, 10);

      expect(scope.isDone()).to.equal(true);
    });

    it('fails at once on a non-retryable API error', async () => {
      api()
        .get(DEPLOYMENT_PATH)
        .reply(404, kubeStatus(404, 'NotFound', 'deployments.apps "preview" not found', { name: 'preview', group: 'apps', kind: 'deployments' }));

      const error = await rejection(cluster().waitForRollout('preview-task-1', 'preview', 5_000, 10));

      expect(error).to.be.instanceOf(KubeApiError);
      expect(error).to.include({ status: 404, retryable: false, reason: 'NotFound' });
      expect(error.message).to.equal('read Deployment preview-task-1/preview failed: HTTP 404 NotFound: deployments.apps "preview" not found');
    });
  });

  describe('deleteNamespace', () => {
    const path = '/api/v1/namespaces/preview-task-1?propagationPolicy=Background';

    it('deletes the namespace', async () => {
      const scope = api()
        .delete(path)
        .reply(200, {
          kind: 'Namespace',
          apiVersion: 'v1',
          metadata: { name: 'preview-task-1', deletionTimestamp: '2025-01-01T00:00:00Z' },
          spec: { finalizers: ['kubernetes'] },
          status: { phase: 'Terminating' },
        });
      expect(await cluster().deleteNamespace('preview-task-1')).to.equal(true);
      expect(scope.isDone()).to.equal(true);
    });

    it('returns false when the namespace is already gone', async () => {
      api().delete(path).reply(404, kubeStatus(404, 'NotFound', 'namespaces "preview-task-1" not found', { name: 'preview-task-1', kind: 'namespaces' }));
      expect(await cluster().deleteNamespace('preview-task-1')).to.equal(false);
    });

    it('returns true when the namespace is already terminating', async () => {
      api()
        .delete(path)
        .reply(
          409,
          kubeStatus(
            409,
            'Conflict',
            'Operation cannot be fulfilled on namespaces "preview-task-1": The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.',
          ),
        );
      expect(await cluster().deleteNamespace('preview-task-1')).to.equal(true);
    });

    it('throws on other errors', async () => {
      api()
        .delete(path)
        .reply(
          403,
          kubeStatus(403, 'Forbidden', 'namespaces "preview-task-1" is forbidden: User "system:serviceaccount:aiworker:aiworker" cannot delete resource "namespaces"'),
        );
      const error = await rejection(cluster().deleteNamespace('preview-task-1'));
      expect(error).to.be.instanceOf(KubeApiError);
      expect(error).to.include({ status: 403, retryable: false, reason: 'Forbidden' });
      expect(error.message).to.match(/^delete Namespace preview-task-1 failed: HTTP 403 Forbidden: namespaces "preview-task-1" is forbidden/);
    });
  });

  describe('listPreviewNamespaces', () => {
    it('lists managed namespaces page by page and parses their labels and annotations', async () => {
      const selector = { labelSelector: 'app.kubernetes.io/managed-by=aiworker', limit: '500' };
      const namespace = (name: string, labels: Record<string, string>, annotations?: Record<string, string>) => ({
        metadata: {
          name,
          uid: `uid-${name}`,
          resourceVersion: '1',
          creationTimestamp: '2025-03-04T05:06:07Z',
          labels: { 'kubernetes.io/metadata.name': name, 'app.kubernetes.io/managed-by': 'aiworker', ...labels },
          ...(annotations ? { annotations } : {}),
        },
        spec: { finalizers: ['kubernetes'] },
        status: { phase: 'Active' },
      });
      const scope = api()
        .get('/api/v1/namespaces')
        .query(selector)
        .reply(200, {
          kind: 'NamespaceList',
          apiVersion: 'v1',
          metadata: { resourceVersion: '500', continue: 'page-2-token' },
          items: [
            namespace(
              'preview-task-1',
              { 'aiworker.dev/project': '3', 'aiworker.dev/task': '1' },
              { 'aiworker.dev/expires-at': '2030-01-01T00:00:00.000Z' },
            ),
          ],
        })
        .get('/api/v1/namespaces')
        .query({ ...selector, continue: 'page-2-token' })
        .reply(200, {
          kind: 'NamespaceList',
          apiVersion: 'v1',
          metadata: { resourceVersion: '500' },
          items: [namespace('preview-task-legacy', { 'aiworker.dev/task': 'Feature_X-1a2b3c4d' }, { 'aiworker.dev/expires-at': 'soon' })],
        });

      const list = await cluster().listPreviewNamespaces();

      expect(scope.isDone()).to.equal(true);
      expect(list).to.deep.equal([
        {
          name: 'preview-task-1',
          projectId: 3,
          taskId: 1,
          expiresAt: new Date('2030-01-01T00:00:00.000Z'),
          createdAt: new Date('2025-03-04T05:06:07Z'),
        },
        { name: 'preview-task-legacy', projectId: null, taskId: null, expiresAt: null, createdAt: new Date('2025-03-04T05:06:07Z') },
      ]);
    });
  });

  describe('syncApplication', () => {
    const NEW_START = '2025-01-01T00:05:00Z';

    function expectSyncPatch() {
      return api()
        .matchHeader('content-type', 'application/merge-patch+json')
        .patch(APP_PATH, { operation: { initiatedBy: { username: 'aiworker' }, sync: { revision: SHA } } })
        .reply(200, application({ operation: true }));
    }

    it('requests a sync with a merge patch and polls until Succeeded', async () => {
      const scope = api().get(APP_PATH).reply(200, application({}));
      const patch = expectSyncPatch();
      const polls = api()
        .get(APP_PATH)
        .reply(200, application({ operation: true }))
        .get(APP_PATH)
        .reply(200, application({ operation: true, phase: 'Running', message: 'one or more tasks are running', startedAt: NEW_START, revision: SHA }))
        .get(APP_PATH)
        .reply(200, application({ phase: 'Succeeded', message: 'successfully synced (all tasks run)', startedAt: NEW_START, revision: SHA }));

      const result = await cluster().syncApplication({ namespace: 'argocd', name: 'shop-preview-1', revision: SHA, timeoutMs: 5_000, pollMs: 10 });

      expect(scope.isDone() && patch.isDone() && polls.isDone()).to.equal(true);
      expect(result).to.deep.equal({
        phase: 'Succeeded',
        message: 'successfully synced (all tasks run)',
        revision: SHA,
        url: 'https://task-1.preview.example.com/',
      });
    });

    it('returns Failed with the operation message', async () => {
      api().get(APP_PATH).reply(200, application({}));
      expectSyncPatch();
      const message = 'one or more objects failed to apply, reason: Deployment.apps "preview" is invalid';
      api()
        .get(APP_PATH)
        .reply(200, application({ phase: 'Failed', message, startedAt: NEW_START, revision: SHA }));

      // The namespace defaults to the cluster's Argo CD namespace.
      const result = await cluster().syncApplication({ name: 'shop-preview-1', revision: SHA, timeoutMs: 5_000, pollMs: 10 });

      expect(result).to.deep.equal({ phase: 'Failed', message, revision: SHA, url: 'https://task-1.preview.example.com/' });
    });

    it('waits for an operation already in flight before requesting its own', async () => {
      const busy = api()
        .get(APP_PATH)
        .reply(200, application({ operation: true, phase: 'Running', startedAt: NEW_START }))
        .get(APP_PATH)
        .reply(200, application({ phase: 'Succeeded', startedAt: NEW_START }));
      const patch = expectSyncPatch();
      const ours = '2025-01-01T00:06:00Z';
      api()
        .get(APP_PATH)
        .reply(200, application({ phase: 'Succeeded', message: 'successfully synced', startedAt: ours, revision: SHA }));

      const result = await cluster().syncApplication({ name: 'shop-preview-1', revision: SHA, timeoutMs: 5_000, pollMs: 10 });

      expect(busy.isDone() && patch.isDone()).to.equal(true);
      expect(result.phase).to.equal('Succeeded');
      expect(result.revision).to.equal(SHA);
    });

    it('returns the current non-terminal phase when the timeout runs out', async () => {
      api().get(APP_PATH).reply(200, application({}));
      expectSyncPatch();
      api()
        .persist()
        .get(APP_PATH)
        .reply(200, application({ operation: true, phase: 'Running', message: 'waiting for healthy state of apps/Deployment/preview', startedAt: NEW_START }));

      const result = await cluster().syncApplication({ name: 'shop-preview-1', revision: SHA, timeoutMs: 150, pollMs: 20 });

      expect(result.phase).to.equal('Running');
      expect(result.message).to.equal('waiting for healthy state of apps/Deployment/preview');
    });

    it('omits the revision to sync to the target revision', async () => {
      api().get(APP_PATH).reply(200, application({}));
      const patch = api()
        .patch(APP_PATH, { operation: { initiatedBy: { username: 'aiworker' }, sync: {} } })
        .reply(200, application({ operation: true }));
      api().get(APP_PATH).reply(200, application({ phase: 'Succeeded', startedAt: NEW_START }));

      await cluster().syncApplication({ name: 'shop-preview-1', timeoutMs: 5_000, pollMs: 10 });

      expect(patch.isDone()).to.equal(true);
    });

    it('fails at once when the Application does not exist', async () => {
      api()
        .get(APP_PATH)
        .reply(404, kubeStatus(404, 'NotFound', 'applications.argoproj.io "shop-preview-1" not found'));

      const error = await rejection(cluster().syncApplication({ name: 'shop-preview-1', revision: SHA, timeoutMs: 5_000, pollMs: 10 }));

      expect(error).to.be.instanceOf(KubeApiError);
      expect(error).to.include({ status: 404, retryable: false });
      expect(error.message).to.equal(
        'sync Application argocd/shop-preview-1 failed: HTTP 404 NotFound: applications.argoproj.io "shop-preview-1" not found',
      );
    });
  });

  describe('ping', () => {
    it('reads the server version', async () => {
      const scope = api()
        .get('/version')
        .reply(200, { major: '1', minor: '31', gitVersion: 'v1.31.2', platform: 'linux/amd64' });
      await cluster().ping();
      expect(scope.isDone()).to.equal(true);
    });

    it('fails with a non-retryable error on 401', async () => {
      nock(API).get('/version').reply(401, kubeStatus(401, 'Unauthorized', 'Unauthorized'));
      const error = await rejection(cluster().ping());
      expect(error).to.be.instanceOf(KubeApiError);
      expect(error).to.include({ status: 401, retryable: false });
      expect(error.message).to.match(/^GET \/version failed: HTTP 401/);
    });
  });

  describe('loadKubeConfig', () => {
    it('requires an explicit source', () => {
      expect(() => loadKubeConfig({})).to.throw(/not configured/);
    });

    it('loads a kubeconfig file', () => {
      const dir = mkdtempSync(join(tmpdir(), 'aiworker-kube-'));
      try {
        const file = join(dir, 'config');
        writeFileSync(
          file,
          [
            'apiVersion: v1',
            'kind: Config',
            'clusters: [{name: c, cluster: {server: "https://k8s.test:6443"}}]',
            'users: [{name: u, user: {token: abc}}]',
            'contexts: [{name: x, context: {cluster: c, user: u}}]',
            'current-context: x',
          ].join('\n'),
        );
        expect(loadKubeConfig({ kubeconfigPath: file }).getCurrentCluster()?.server).to.equal(API);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('deploy/rbac.yaml', () => {
    const docs: any[] = loadAllYaml(readFileSync(new URL('../../deploy/rbac.yaml', import.meta.url), 'utf8')).map((d) =>
      JSON.parse(JSON.stringify(d)),
    );
    const models: Record<string, new (data: any) => { validate(): void }> = {
      ServiceAccount,
      ClusterRole,
      ClusterRoleBinding,
      Role,
      RoleBinding,
    };
    const grants = (kind: string) =>
      Object.fromEntries(
        docs
          .find((d) => d.kind === kind)
          .rules.flatMap((r: any) => r.apiGroups.flatMap((g: string) => r.resources.map((res: string) => [`${g || 'core'}/${res}`, [...r.verbs].sort()]))),
      );

    it('is schema-valid', () => {
      expect(docs.map((d) => d.kind)).to.deep.equal(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
      for (const doc of docs) new models[doc.kind]!(doc).validate();
    });

    it('grants exactly the verbs the cluster calls use', () => {
      expect(grants('ClusterRole')).to.deep.equal({
        'core/namespaces': ['create', 'delete', 'list', 'patch'],
        'apps/deployments': ['create', 'get', 'patch'],
        'core/services': ['create', 'patch'],
        'networking.k8s.io/ingresses': ['create', 'patch'],
      });
      expect(grants('Role')).to.deep.equal({ 'argoproj.io/applications': ['get', 'patch'] });
      const role = docs.find((d) => d.kind === 'Role');
      expect(role.metadata.namespace).to.equal('argocd');
      for (const binding of docs.filter((d) => d.kind.endsWith('Binding'))) {
        expect(binding.subjects).to.deep.equal([{ kind: 'ServiceAccount', name: 'aiworker', namespace: 'aiworker' }]);
      }
    });
  });
});
