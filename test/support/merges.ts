import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import nock from 'nock';
import { createKubeCluster, type KubeCluster } from '../../src/k8s/cluster.js';
import type { QueueName } from '../../src/queue/queues.js';
import { giteaDelivery, type DeliveryOptions } from './gitea-delivery.js';
import { MAIN_SHA, type GiteaRepo } from './gitea-repo.js';
import { startGiteaServer, type GiteaServer } from './gitea-server.js';
import { createTask, eventually, startTestService, type TestService } from './service.js';
import { setTaskColumns } from './task-rows.js';

/*
 * What the tests of the staging-merge, promotion and environment-sync jobs share: the service with
 * the stand-in Gitea and the real Kubernetes client against nock's Argo CD, a project on a
 * repository of its own per test, approved tasks with open pull requests, and ways to wait for jobs.
 */

const K8S = 'https://k8s.test:6443';
const K8S_TOKEN = 'test-service-account-token';
const PREVIOUS_START = '2025-01-01T00:00:00Z';
/** The repository URL Argo CD Applications name (data only: Argo CD is not asked for it). */
const REPO_URL = 'https://gitea.example.com/acme/webapp.git';

/** Gitea's 409 for a merge that conflicts (services/pull: the merge's own output). */
export const CONFLICT_409 = {
  Style: 'merge',
  StdOut: 'Auto-merging src/login.ts\nCONFLICT (content): Merge conflict in src/login.ts\nAutomatic merge failed; fix conflicts and then commit the result.\n',
  StdErr: '',
  Err: {},
};
export const TRY_LATER = { message: 'Please try again later', url: 'https://gitea.example.com/api/swagger' };
export { MAIN_SHA };

/** JSON columns and non-JSON content types (merge patches) arrive as text. */
export const jsonOf = (v: unknown): any => (typeof v === 'string' ? JSON.parse(v) : v);

let shaCounter = 0;
/** A fresh, valid-looking commit sha. */
export const nextSha = () => (++shaCounter).toString(16).padStart(40, 'c');

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: K8S, skipTLSVerify: false }],
    users: [{ name: 'aiworker', token: K8S_TOKEN }],
    contexts: [{ name: 'test', cluster: 'test', user: 'aiworker' }],
    currentContext: 'test',
  });
  return kc;
}

/** The real cluster client; only its Argo CD poll interval is shortened (3 s by default) to keep tests fast. */
function testCluster(): KubeCluster {
  const real = createKubeCluster({ kubeConfig: kubeConfig(), argocdNamespace: 'argocd' });
  return {
    apply: (objects) => real.apply(objects),
    waitForRollout: (ns, name, timeoutMs, pollMs) => real.waitForRollout(ns, name, timeoutMs, pollMs),
    deleteNamespace: (name) => real.deleteNamespace(name),
    listPreviewNamespaces: () => real.listPreviewNamespaces(),
    syncApplication: (o) => real.syncApplication({ ...o, pollMs: 20 }),
    ping: () => real.ping(),
  };
}

const appPath = (name: string) => `/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/${name}`;

function application(name: string, s: { operation?: boolean; phase?: string; message?: string; startedAt?: string; revision?: string } = {}) {
  const revision = s.revision ?? MAIN_SHA;
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name, namespace: 'argocd', resourceVersion: '777', generation: 5 },
    spec: {
      project: 'default',
      source: { repoURL: REPO_URL, path: 'deploy', targetRevision: 'staging' },
      destination: { server: 'https://kubernetes.default.svc', namespace: name },
    },
    ...(s.operation ? { operation: { initiatedBy: { username: 'aiworker' }, sync: { revision } } } : {}),
    status: {
      sync: { status: 'Synced', revision },
      health: { status: 'Healthy' },
      summary: { externalURLs: [`https://${name}.example.com/`] },
      operationState: {
        operation: { initiatedBy: { username: 'aiworker' }, sync: { revision } },
        phase: s.phase ?? 'Succeeded',
        message: s.message ?? 'successfully synced (all tasks run)',
        startedAt: s.startedAt ?? PREVIOUS_START,
        ...(s.phase === 'Running' ? {} : { finishedAt: '2025-01-01T00:01:00Z' }),
        syncResult: { revision, source: { repoURL: REPO_URL }, resources: [] },
      },
    },
  };
}

/** Argo CD: idle Application, our merge patch (optionally checked), then the operation's end state. */
export function argoSync(name: string, end: { phase: string; message: string }, revision: (r: string) => boolean) {
  const api = () => nock(K8S, { reqheaders: { authorization: `Bearer ${K8S_TOKEN}` } });
  const idle = api().get(appPath(name)).reply(200, application(name));
  const patch = api()
    .matchHeader('content-type', 'application/merge-patch+json')
    .patch(appPath(name), (raw) => {
      const body = jsonOf(raw);
      return body.operation?.initiatedBy?.username === 'aiworker' && revision(body.operation?.sync?.revision);
    })
    .reply(200, (_uri, body) => application(name, { operation: true, revision: jsonOf(body).operation.sync.revision }));
  const done = api()
    .get(appPath(name))
    .reply(200, () => application(name, { ...end, startedAt: '2025-01-01T00:05:00Z', revision: 'f0'.repeat(20) }));
  return { idle, patch, done };
}

export interface MergeService {
  svc: TestService;
  gitea: GiteaServer;
  /** A project on a repository of its own (`fake`, the stand-in Gitea's), unless `repo` names one. */
  project(extra?: Record<string, unknown>, repo?: string): Promise<{ project: any; fake: GiteaRepo }>;
  /** A task with an open PR into staging, approved through REST. */
  approvedTask(projectId: number, fake: GiteaRepo, prNumber: number): Promise<any>;
  /** approvedTask for each PR number, approved in that order. */
  approvedTasks(projectId: number, fake: GiteaRepo, ...prNumbers: number[]): Promise<any[]>;
  /** The job once it has completed or failed. */
  finished(queue: QueueName, jobId: string, timeoutMs?: number): Promise<{ state: string; job: any }>;
  /** A merge train through POST /api/merge, run to completion. */
  train(taskIds: number[]): Promise<{ jobId: string; result: any }>;
  stateOf(id: number): Promise<string>;
  /** The project's deploy:started and deploy:completed events, previews' aside. */
  deployEvents(projectId: number): Promise<any[]>;
  /** Delivers a fixture and expects it processed. */
  deliver(name: string, opts: DeliveryOptions): Promise<void>;
}

/**
 * Registers the hooks of a describe block that tests merges and syncs: one service (Gitea, the
 * Kubernetes client against nock, nothing else reached over the network), Gitea forgotten and
 * nock's Argo CD answers dropped after each test.
 */
export function mergeService(): MergeService {
  const h = {} as MergeService;
  let repoCounter = 0;
  before(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1|localhost/);
    h.gitea = await startGiteaServer();
    h.svc = await startTestService(h.gitea.env(), { cluster: testCluster() });
  });
  after(async () => {
    await h.svc?.cleanup();
    await h.gitea?.close();
    nock.cleanAll();
    nock.enableNetConnect();
  });
  beforeEach(() => h.gitea.reset());
  afterEach(() => nock.cleanAll());

  h.project = async (extra = {}, repo = `acme/train-${++repoCounter}`) => {
    const res = await h.svc.api('POST', '/api/projects', { name: repo, repo, ...extra });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return { project: res.body, fake: h.gitea.repo(repo) };
  };
  h.approvedTask = async (projectId, fake, prNumber) => {
    const t = await createTask(h.svc, projectId, `Task for #${prNumber}`);
    const branch = `task-${t.id}-work`;
    const headSha = nextSha();
    await setTaskColumns(h.svc.deps, t.id, { pr_number: prNumber, pr_url: `${h.gitea.url}/${fake.fullName}/pulls/${prNumber}`, branch, head_sha: headSha });
    fake.addPull({ number: prNumber, head: branch, headSha });
    for (const state of ['in_progress', 'approved']) {
      const res = await h.svc.api('PATCH', `/api/tasks/${t.id}`, { state });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
    }
    // approved_at has millisecond precision: keep approvals distinct.
    await sleep(5);
    return { ...t, headSha, prNumber };
  };
  h.approvedTasks = async (projectId, fake, ...prNumbers) => {
    const tasks = [];
    for (const n of prNumbers) tasks.push(await h.approvedTask(projectId, fake, n));
    return tasks;
  };
  h.finished = (queue, jobId, timeoutMs = 20_000) =>
    eventually(
      async () => {
        const state = await h.svc.queues.get(queue).getJobState(jobId);
        if (state !== 'completed' && state !== 'failed') return null;
        // Read after the state: a job read while active has no result yet.
        return { state, job: (await h.svc.queues.get(queue).getJob(jobId))! };
      },
      timeoutMs,
      `job ${jobId} to finish`,
    );
  h.train = async (taskIds) => {
    const res = await h.svc.api('POST', '/api/merge', { taskIds });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    const { state, job } = await h.finished('merge', res.body.jobId);
    expect(state, job.failedReason).to.equal('completed');
    return { jobId: res.body.jobId as string, result: job.returnvalue };
  };
  h.stateOf = async (id) => (await h.svc.api('GET', `/api/tasks/${id}`)).body.state;
  h.deployEvents = async (projectId) => {
    const rows = await h.svc.db('task_events').where({ project_id: projectId }).whereIn('type', ['deploy:started', 'deploy:completed']).orderBy('id');
    // Preview deploys and teardowns of the same project publish these events too.
    return rows.map((r: any) => ({ type: r.type, ...jsonOf(r.data) })).filter((e: any) => e.environment !== 'preview');
  };
  h.deliver = async (name, opts) => {
    const d = giteaDelivery(name, opts);
    expect((await h.svc.deliver(d)).status).to.equal(202);
    expect(await h.svc.settled(d.id)).to.equal('processed');
  };
  return h;
}
