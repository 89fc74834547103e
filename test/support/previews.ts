import type { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import nock from 'nock';
import { createKubeCluster, type KubeCluster } from '../../src/k8s/cluster.js';
import { giteaDelivery, type DeliveryOptions } from './gitea-delivery.js';
import { startGiteaServer, type GiteaServer } from './gitea-server.js';
import { kubeStatus, PREVIEW_DISCOVERY, tokenKubeConfig } from './kube-shapes.js';
import { createProject, createTask, eventually, startTestService, type TestService } from './service.js';

/*
 * What the tests of the preview jobs share: the stand-in Gitea, the real Kubernetes client against
 * nock's API server (each call the test expects, in order), and a service per test.
 */

const KUBE_API = 'https://k8s.test:6443';
const KUBE_TOKEN = 'preview-test-sa-token';
export const DOMAIN = 'preview.example.com';
export const IMAGE = 'registry.example.com/acme/webapp';
const APPLY_QUERY = '?fieldManager=aiworker&force=true';
/** Head commits of the pull_request.opened and pull_request.synchronized fixtures. */
export const OPENED_SHA = 'c9de6274405f2cf52adabba61b36257fff6809af';
export const SYNC_SHA = '8eb0c7ac67266e7b78be03e944e58dafbbedc56d';
export const PR = 7;

const kubeConfig = (): KubeConfig => tokenKubeConfig(KUBE_API, KUBE_TOKEN);
export const kube = () => nock(KUBE_API, { reqheaders: { authorization: `Bearer ${KUBE_TOKEN}` } });

// ---- Kubernetes API answers, shaped like the API server's (see test/unit/k8s-cluster.test.ts) ----

const parse = (body: unknown): any => (typeof body === 'string' ? JSON.parse(body) : body);

export function applied(raw: unknown) {
  const body = parse(raw);
  return {
    ...body,
    metadata: { ...body.metadata, uid: '6c1f3a52-4c1b-4f0e-9d53-3b8b7a0f1e21', resourceVersion: '4711', generation: 1, creationTimestamp: '2025-01-01T00:00:00Z' },
  };
}

/** Discovery happens once per cluster client, on its first apply. */
export function discovery(scope = kube()) {
  for (const [path, list] of Object.entries(PREVIEW_DISCOVERY)) scope.get(path).reply(200, list);
  return scope;
}

export const paths = (taskId: number) => {
  const ns = `preview-task-${taskId}`;
  return {
    namespace: `/api/v1/namespaces/${ns}${APPLY_QUERY}`,
    deployment: `/apis/apps/v1/namespaces/${ns}/deployments/preview${APPLY_QUERY}`,
    service: `/api/v1/namespaces/${ns}/services/preview${APPLY_QUERY}`,
    ingress: `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses/preview${APPLY_QUERY}`,
    read: `/apis/apps/v1/namespaces/${ns}/deployments/preview`,
  };
};

/**
 * An apply that stops at the Deployment, refused with 422 Invalid and `message`: only the core and
 * apps API groups are looked up (never the Ingress's) and only the Namespace is applied.
 */
export function deploymentRefused(taskId: number, message: string, scope = kube()) {
  const p = paths(taskId);
  return scope
    .get('/api/v1')
    .reply(200, PREVIEW_DISCOVERY['/api/v1'])
    .get('/apis/apps/v1')
    .reply(200, PREVIEW_DISCOVERY['/apis/apps/v1'])
    .patch(p.namespace)
    .reply(200, (_uri, body) => applied(body))
    .patch(p.deployment)
    .reply(422, kubeStatus(422, 'Invalid', message));
}

export function availableDeployment(taskId: number) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'preview', namespace: `preview-task-${taskId}`, generation: 1, resourceVersion: '4712' },
    spec: { replicas: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'preview' } }, template: { spec: { containers: [] } } },
    status: {
      observedGeneration: 1,
      replicas: 1,
      updatedReplicas: 1,
      readyReplicas: 1,
      availableReplicas: 1,
      conditions: [
        { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' },
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: 'ReplicaSet "preview-5d8f" has successfully progressed.' },
      ],
    },
  };
}

/** The four applies of a preview, each recording what was sent, then the rollout read. */
export function applyAndRollout(taskId: number, sent: any[] = [], scope = kube()) {
  const p = paths(taskId);
  const record = (uri: string, body: unknown) => {
    sent.push({ uri, body: parse(body) });
    return applied(body);
  };
  return scope
    .patch(p.namespace)
    .reply(200, (uri, body) => record(uri, body))
    .patch(p.deployment)
    .reply(200, (uri, body) => record(uri, body))
    .patch(p.service)
    .reply(200, (uri, body) => record(uri, body))
    .patch(p.ingress)
    .reply(200, (uri, body) => record(uri, body))
    .get(p.read)
    .reply(200, availableDeployment(taskId));
}

export interface PreviewService {
  gitea: GiteaServer;
  /** The real cluster client against nock's API server. */
  kubeCluster(): KubeCluster;
  /**
   * A service (previews with `cluster`, null: dry-run), a project and a task in progress; with
   * `deploys`, the task's PR is open in Gitea at OPENED_SHA (a deploy asks for its head).
   */
  start(cluster: KubeCluster | null, project?: Record<string, unknown>, deploys?: boolean): Promise<{ svc: TestService; project: any; task: any }>;
  /** Delivers a fixture and expects it processed. */
  send(s: TestService, name: string, opts: DeliveryOptions): Promise<void>;
  getTask(s: TestService, id: number): Promise<any>;
  taskEvents(s: TestService, id: number): Promise<any[]>;
  deployments(s: TestService, query: string): Promise<any>;
  /** The finished preview-deploy jobs, once there are `count` of them. */
  finishedDeployJobs(s: TestService, count: number): Promise<any[]>;
  /** Waits until Gitea has `statuses` commit statuses and `commentCalls` comment posts and edits, and nock no pending answer. */
  reported(counts: { statuses: number; commentCalls: number }, what: string): Promise<void>;
  /** Gitea's commit statuses so far, as [sha, state], each checked to be the preview's context. */
  statuses(): Array<[string, string]>;
  /** Comment posts and edits Gitea answered, in order. */
  commentCalls(): string[];
  /** Every expected Kubernetes call happened, and nothing else was asked of Kubernetes or Gitea. */
  expectAllCallsMade(): void;
  /**
   * Delivers pull_request.opened, then waits for the one preview-deploy job to finish and for Gitea
   * to have been told `counts`, and checks nothing else was asked; the finished job.
   */
  deployOpened(s: TestService, taskId: number, counts: { statuses: number; commentCalls: number }, what: string): Promise<any>;
  /**
   * Expects a whole successful deploy of the opened PR's head (discovery, applies, rollout), delivers
   * pull_request.opened and waits for it and for its pending and success statuses and its comment.
   */
  openAndDeploy(s: TestService, taskId: number): Promise<void>;
  /**
   * Runs `fn` while the deploy queue's delayed retries are promoted as soon as they are delayed:
   * BullMQ's backoff (2 s, 4 s, 8 s) is real, promoting only skips the waiting.
   */
  promptRetries<T>(s: TestService, fn: () => Promise<T>): Promise<T>;
}

/** Registers the hooks of a describe block that tests preview jobs; each test starts its own service. */
export function previewService(): PreviewService {
  const h = {} as PreviewService;
  let svc: TestService | null = null;
  let unmatched: string[] = [];
  const onNoMatch = (req: { method?: string; path?: string; href?: string; options?: { href?: string } }) => {
    const what = `${req.method ?? ''} ${req.href ?? req.options?.href ?? req.path ?? ''}`;
    // nock reports the calls it lets through (the service under test, the stand-in Gitea) as "no match" too.
    if (!/\/\/(127\.0\.0\.1|localhost)[:/]/.test(what)) unmatched.push(what);
  };
  before(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1|localhost/);
    nock.emitter.on('no match', onNoMatch);
    h.gitea = await startGiteaServer();
  });
  beforeEach(() => {
    unmatched = [];
    h.gitea.reset();
  });
  afterEach(async () => {
    await svc?.cleanup();
    svc = null;
    nock.cleanAll();
  });
  after(async () => {
    nock.emitter.off('no match', onNoMatch);
    nock.enableNetConnect();
    await h.gitea?.close();
  });

  h.kubeCluster = () => createKubeCluster({ kubeConfig: kubeConfig() });
  h.start = async (cluster, project = { previewImage: IMAGE }, deploys = true) => {
    if (project.previewImage && deploys) h.gitea.openPull(PR, OPENED_SHA);
    svc = await startTestService({ ...h.gitea.env(), PREVIEW_DOMAIN: DOMAIN }, { cluster });
    const p = await createProject(svc, project);
    const t = await createTask(svc, p.id);
    expect((await svc.api('PATCH', `/api/tasks/${t.id}`, { state: 'in_progress' })).status).to.equal(200);
    return { svc, project: p, task: t };
  };
  h.send = async (s, name, opts) => {
    const d = giteaDelivery(name, opts);
    expect((await s.deliver(d)).status).to.equal(202);
    expect(await s.settled(d.id)).to.equal('processed');
  };
  h.getTask = async (s, id) => (await s.api('GET', `/api/tasks/${id}`)).body;
  h.taskEvents = async (s, id) => (await s.api('GET', `/api/tasks/${id}/events`)).body.events;
  h.deployments = async (s, query) => (await s.api('GET', `/api/deployments?${query}`)).body;
  h.finishedDeployJobs = (s, count) =>
    eventually(async () => {
      const jobs = await s.queues.get('deploy').getJobs(['completed', 'failed']);
      const mine = jobs.filter((j) => j.name === 'preview-deploy');
      return mine.length >= count ? mine : null;
    }, 20_000, `${count} finished preview deploys`);
  h.commentCalls = () => h.gitea.requests.filter((r) => /\/issues\/(\d+\/)?comments/.test(r.path) && r.method !== 'GET').map((r) => r.method);
  h.statuses = () =>
    h.gitea.statuses.map((s) => {
      expect(s.context).to.equal('aiworker/preview');
      return [s.sha, s.state];
    });
  h.reported = async ({ statuses, commentCalls }, what) => {
    await eventually(async () => h.gitea.statuses.length >= statuses && h.commentCalls().length >= commentCalls && nock.pendingMocks().length === 0, 15_000, what);
  };
  h.expectAllCallsMade = () => {
    expect(unmatched, 'Kubernetes requests nock had no answer for').to.deep.equal([]);
    expect(nock.pendingMocks(), 'expected Kubernetes requests never made').to.deep.equal([]);
    expect(h.gitea.unknown, 'Gitea calls its stand-in has no route for').to.deep.equal([]);
  };
  h.deployOpened = async (s, taskId, counts, what) => {
    await h.send(s, 'pull_request.opened', { taskId });
    const [job] = await h.finishedDeployJobs(s, 1);
    await h.reported(counts, what);
    h.expectAllCallsMade();
    return job;
  };
  h.openAndDeploy = async (s, taskId) => {
    discovery();
    applyAndRollout(taskId);
    await h.send(s, 'pull_request.opened', { taskId });
    await h.reported({ statuses: 2, commentCalls: 1 }, 'the deploy');
    expect(h.statuses()).to.deep.equal([[OPENED_SHA, 'pending'], [OPENED_SHA, 'success']]);
  };
  h.promptRetries = async (s, fn) => {
    const promoter = setInterval(async () => {
      for (const job of await s.queues.get('deploy').getDelayed().catch(() => [])) await job.promote().catch(() => undefined);
    }, 100);
    try {
      return await fn();
    } finally {
      clearInterval(promoter);
    }
  };
  return h;
}
