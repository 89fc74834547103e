import { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import nock from 'nock';
import { createKubeCluster } from '../../src/k8s/cluster.js';
import { schedulePreviewCleanup } from '../../jobs/preview-cleanup.js';
import { giteaDelivery, type DeliveryOptions } from '../support/gitea-delivery.js';
import { createProject, createTask, eventually, startTestService, type TestService } from '../support/service.js';
import { kubeStatus, PREVIEW_DISCOVERY, resourceList, tokenKubeConfig } from '../support/kube-shapes.js';
import { setTaskColumns } from '../support/task-rows.js';
import { giteaPull } from '../support/gitea-shapes.js';

const KUBE_API = 'https://k8s.test:6443';
const KUBE_TOKEN = 'preview-test-sa-token';
const GITEA_URL = 'https://gitea.previews.test';
const GITEA_TOKEN = 'preview-test-gitea-token';
const REPO = '/api/v1/repos/acme/webapp';
const DOMAIN = 'preview.example.com';
const IMAGE = 'registry.example.com/acme/webapp';
const APPLY_QUERY = '?fieldManager=aiworker&force=true';
/** Head commits of the pull_request.opened and pull_request.synchronized fixtures. */
const OPENED_SHA = 'c9de6274405f2cf52adabba61b36257fff6809af';
const SYNC_SHA = '8eb0c7ac67266e7b78be03e944e58dafbbedc56d';
const PR = 7;

const ENV = { GITEA_URL, GITEA_TOKEN, GITEA_BOT_LOGIN: 'aiworker-bot', PREVIEW_DOMAIN: DOMAIN };

const kubeConfig = (): KubeConfig => tokenKubeConfig(KUBE_API, KUBE_TOKEN);

const kube = () => nock(KUBE_API, { reqheaders: { authorization: `Bearer ${KUBE_TOKEN}` } });
const gitea = () => nock(GITEA_URL, { reqheaders: { authorization: `token ${GITEA_TOKEN}` } });

// ---- Kubernetes API answers, shaped like the API server's (see test/k8s-cluster.test.ts) ----

const parse = (body: unknown): any => (typeof body === 'string' ? JSON.parse(body) : body);

function applied(raw: unknown) {
  const body = parse(raw);
  return {
    ...body,
    metadata: { ...body.metadata, uid: '6c1f3a52-4c1b-4f0e-9d53-3b8b7a0f1e21', resourceVersion: '4711', generation: 1, creationTimestamp: '2025-01-01T00:00:00Z' },
  };
}

/** Discovery happens once per cluster client, on its first apply. */
function discovery(scope = kube()) {
  for (const [path, list] of Object.entries(PREVIEW_DISCOVERY)) scope.get(path).reply(200, list);
  return scope;
}

const paths = (taskId: number) => {
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
function deploymentRefused(taskId: number, message: string, scope = kube()) {
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

function availableDeployment(taskId: number) {
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
function applyAndRollout(taskId: number, sent: any[] = [], scope = kube()) {
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

// ---- Gitea API answers, shaped like swagger.v1.json (Comment, CommitStatus) ----

const giteaUser = { id: 99, login: 'aiworker-bot', login_name: '', full_name: 'aiworker', email: 'bot@noreply.gitea.test', avatar_url: '', html_url: `${GITEA_URL}/aiworker-bot`, is_admin: false, username: 'aiworker-bot' };

function commitStatusReply(sha: string, body: any, id = 1) {
  return {
    id,
    status: body.state,
    target_url: body.target_url ?? '',
    description: body.description ?? '',
    url: `${GITEA_URL}${REPO}/statuses/${sha}`,
    context: body.context,
    creator: giteaUser,
    created_at: '2025-06-03T08:00:00Z',
    updated_at: '2025-06-03T08:00:00Z',
  };
}

function commentReply(id: number, body: string) {
  return {
    id,
    html_url: `${GITEA_URL}/acme/webapp/pulls/${PR}#issuecomment-${id}`,
    pull_request_url: `${GITEA_URL}/acme/webapp/pulls/${PR}`,
    issue_url: '',
    user: giteaUser,
    original_author: '',
    original_author_id: 0,
    body,
    assets: [],
    created_at: '2025-06-03T08:00:01Z',
    updated_at: '2025-06-03T08:00:01Z',
  };
}

interface GiteaLog {
  statuses: Array<{ sha: string; state: string; context: string; description: string; target_url?: string }>;
  comments: Array<{ method: string; path: string; body: string }>;
}

/** Expects the commit statuses (in this order) and records them. */
function expectStatuses(log: GiteaLog, expected: Array<[sha: string, state: string]>) {
  const scope = gitea();
  for (const [sha, state] of expected) {
    scope.post(`${REPO}/statuses/${sha}`, (b) => b.state === state && b.context === 'aiworker/preview').reply(201, (_uri, body: any) => {
      log.statuses.push({ sha, ...body });
      return commitStatusReply(sha, body, log.statuses.length);
    });
  }
  return scope;
}

/** A first preview comment: Gitea is asked for one with the task's mark (none yet), then it is posted. */
function expectNewComment(log: GiteaLog, id: number) {
  return gitea()
    .get(`${REPO}/issues/${PR}/comments`)
    .query(true)
    .reply(200, [], { 'X-Total-Count': '0' })
    .post(`${REPO}/issues/${PR}/comments`)
    .reply(201, (uri, body: any) => {
      log.comments.push({ method: 'POST', path: uri, body: body.body });
      return commentReply(id, body.body);
    });
}

function expectEditedComment(log: GiteaLog, id: number) {
  return gitea()
    .patch(`${REPO}/issues/comments/${id}`)
    .reply(200, (uri, body: any) => {
      log.comments.push({ method: 'PATCH', path: uri, body: body.body });
      return commentReply(id, body.body);
    });
}

describe('preview environments (jobs end to end: webhook → queue → job → Kubernetes and Gitea APIs)', function () {
  this.timeout(60_000);
  let svc: TestService | null = null;
  let unmatched: string[] = [];
  const onNoMatch = (req: { method?: string; path?: string; href?: string; options?: { href?: string } }) => {
    const what = `${req.method ?? ''} ${req.href ?? req.options?.href ?? req.path ?? ''}`;
    // nock reports the calls it lets through to the service under test as "no match" too.
    if (!/\/\/(127\.0\.0\.1|localhost)[:/]/.test(what)) unmatched.push(what);
  };

  before(() => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1|localhost/);
    nock.emitter.on('no match', onNoMatch);
  });
  beforeEach(() => {
    unmatched = [];
  });
  afterEach(async () => {
    await svc?.cleanup();
    svc = null;
    nock.cleanAll();
  });
  after(() => {
    nock.emitter.off('no match', onNoMatch);
    nock.enableNetConnect();
  });

  /** Every expected call happened, and nothing else was asked of Gitea or Kubernetes. */
  function expectAllCallsMade() {
    expect(unmatched, 'requests nock had no answer for').to.deep.equal([]);
    expect(nock.pendingMocks(), 'expected requests never made').to.deep.equal([]);
  }

  const kubeCluster = () => createKubeCluster({ kubeConfig: kubeConfig() });

  /** The PR's head as Gitea's API reports it: what a deploy asks for before it deploys. */
  let giteaHead = OPENED_SHA;
  function answerPull() {
    giteaHead = OPENED_SHA;
    gitea()
      .persist()
      .get(`${REPO}/pulls/${PR}`)
      .reply(200, () => ({ ...giteaPull(GITEA_URL, { number: PR, head: 'task-1-add-login', headSha: giteaHead, base: 'staging', baseSha: 'd'.repeat(40) }), updated_at: '2025-06-03T09:30:00Z' }));
  }

  /** `deploys`: a PR event will deploy, so Gitea is asked for the PR's head. */
  async function start(cluster: ReturnType<typeof kubeCluster> | null, project: Record<string, unknown> = { previewImage: IMAGE }, deploys = true) {
    if (project.previewImage && deploys) answerPull();
    svc = await startTestService(ENV, { cluster });
    const p = await createProject(svc, project);
    const t = await createTask(svc, p.id);
    expect((await svc.api('PATCH', `/api/tasks/${t.id}`, { state: 'in_progress' })).status).to.equal(200);
    return { svc, project: p, task: t };
  }

  async function send(s: TestService, name: string, opts: DeliveryOptions) {
    const d = giteaDelivery(name, opts);
    expect((await s.deliver(d)).status).to.equal(202);
    expect(await s.settled(d.id)).to.equal('processed');
  }

  const getTask = async (s: TestService, id: number) => (await s.api('GET', `/api/tasks/${id}`)).body;
  const taskEvents = async (s: TestService, id: number) => (await s.api('GET', `/api/tasks/${id}/events`)).body.events as any[];
  const deployments = async (s: TestService, query: string) => (await s.api('GET', `/api/deployments?${query}`)).body;

  /** The latest finished preview-deploy job's result, once there are `count` of them. */
  async function finishedDeployJobs(s: TestService, count: number) {
    return eventually(async () => {
      const jobs = await s.queues.get('deploy').getJobs(['completed', 'failed']);
      const mine = jobs.filter((j) => j.name === 'preview-deploy');
      return mine.length >= count ? mine : null;
    }, 20_000, `${count} finished preview deploys`);
  }

  /**
   * Delivers pull_request.opened, then waits for the one preview-deploy job to finish and for every
   * expected call (`what`) to be made, and checks nothing else was asked; the finished job.
   */
  async function deployOpened(s: TestService, taskId: number, what: string) {
    await send(s, 'pull_request.opened', { taskId });
    const [job] = await finishedDeployJobs(s, 1);
    await eventually(async () => nock.pendingMocks().length === 0, 10_000, what);
    expectAllCallsMade();
    return job;
  }

  /**
   * Expects a whole successful deploy of the opened PR's head (discovery, applies, rollout, pending
   * and success statuses, new comment `commentId`), delivers pull_request.opened and waits for it.
   */
  async function openAndDeploy(s: TestService, taskId: number, commentId: number) {
    const log: GiteaLog = { statuses: [], comments: [] };
    discovery();
    applyAndRollout(taskId);
    expectStatuses(log, [[OPENED_SHA, 'pending'], [OPENED_SHA, 'success']]);
    expectNewComment(log, commentId);
    await send(s, 'pull_request.opened', { taskId });
    await eventually(async () => nock.pendingMocks().length === 0, 15_000, 'the deploy');
  }

  it('PR opened: deploys the head, task → ready_to_test, one comment; a new head redeploys and edits that comment', async () => {
    const { svc: s, project, task } = await start(kubeCluster());
    const log: GiteaLog = { statuses: [], comments: [] };
    const sent: any[] = [];
    discovery();
    applyAndRollout(task.id, sent);
    expectStatuses(log, [[OPENED_SHA, 'pending'], [OPENED_SHA, 'success']]);
    expectNewComment(log, 4242);

    await send(s, 'pull_request.opened', { taskId: task.id });
    const url = `https://task-${task.id}.${DOMAIN}`;
    await eventually(async () => (await getTask(s, task.id)).state === 'ready_to_test', 15_000, 'ready_to_test');
    await eventually(async () => nock.pendingMocks().length === 0, 10_000, 'the Gitea calls after the rollout');
    expectAllCallsMade();

    const ready = await getTask(s, task.id);
    expect(ready).to.include({ state: 'ready_to_test', previewUrl: url, headSha: OPENED_SHA, prNumber: PR });
    // What was applied: the project's image at the PR head, in the task's namespace, at the task's host.
    expect(sent.map((r) => `${r.body.kind}/${r.body.metadata.name}`)).to.deep.equal([
      `Namespace/preview-task-${task.id}`,
      'Deployment/preview',
      'Service/preview',
      'Ingress/preview',
    ]);
    expect(sent[1].body.spec.template.spec.containers[0].image).to.equal(`${IMAGE}:${OPENED_SHA}`);
    expect(sent[3].body.spec.rules[0].host).to.equal(`task-${task.id}.${DOMAIN}`);
    expect(log.statuses.map((st) => st.state)).to.deep.equal(['pending', 'success']);
    expect(log.statuses[1].target_url).to.equal(url);
    expect(log.comments).to.have.length(1);
    expect(log.comments[0].body).to.contain(url).and.to.contain(OPENED_SHA.slice(0, 7)).and.to.contain('<!-- aiworker -->');

    const events = await taskEvents(s, task.id);
    expect(events.map((e) => e.type).slice(-4)).to.deep.equal(['deploy:started', 'task:status_changed', 'task:ready_to_test', 'deploy:completed']);
    expect(events.at(-3)).to.include({ from: 'in_progress', to: 'ready_to_test', actor: 'aiworker' });
    const first = await deployments(s, `taskId=${task.id}`);
    expect(first.total).to.equal(1);
    expect(first.deployments[0]).to.include({ environment: 'preview', kind: 'preview', status: 'succeeded', url, commitSha: OPENED_SHA, dryRun: false, error: null, projectId: project.id });
    expect(first.deployments[0].taskIds).to.deep.equal([task.id]);

    // New commits: the task waits in in_progress for their preview, then the same comment is edited.
    applyAndRollout(task.id, sent);
    expectStatuses(log, [[SYNC_SHA, 'pending'], [SYNC_SHA, 'success']]);
    expectEditedComment(log, 4242);
    giteaHead = SYNC_SHA;
    await send(s, 'pull_request.synchronized', { taskId: task.id });
    await eventually(async () => nock.pendingMocks().length === 0, 15_000, 'the redeploy');
    expectAllCallsMade();

    const redeployed = await getTask(s, task.id);
    expect(redeployed).to.include({ state: 'ready_to_test', previewUrl: url, headSha: SYNC_SHA });
    expect(sent[5].body.spec.template.spec.containers[0].image).to.equal(`${IMAGE}:${SYNC_SHA}`);
    expect(log.comments.map((c) => c.method)).to.deep.equal(['POST', 'PATCH']);
    expect(log.comments[1].body).to.contain(SYNC_SHA.slice(0, 7)).and.to.contain(url);
    const moves = (await taskEvents(s, task.id)).filter((e) => e.type === 'task:status_changed').map((e) => `${e.from}->${e.to}`);
    expect(moves.slice(-3)).to.deep.equal(['in_progress->ready_to_test', 'ready_to_test->in_progress', 'in_progress->ready_to_test']);
    const both = await deployments(s, `taskId=${task.id}&environment=preview`);
    expect(both.deployments.map((d: any) => [d.commitSha, d.status])).to.deep.equal([
      [SYNC_SHA, 'succeeded'],
      [OPENED_SHA, 'succeeded'],
    ]);
  });

  it('a task waiting for an answer keeps its state; its preview URL is still set and posted', async () => {
    const { svc: s, task } = await start(kubeCluster());
    await s.tasks.ask(task.id, null, 'Which OAuth provider?', 'agent');
    await openAndDeploy(s, task.id, 77);
    expectAllCallsMade();

    const after = await eventually(async () => {
      const t = await getTask(s, task.id);
      return t.previewUrl ? t : null;
    });
    expect(after).to.include({ state: 'needs_input', previewUrl: `https://task-${task.id}.${DOMAIN}` });
    expect((await taskEvents(s, task.id)).map((e) => e.type)).not.to.include('task:ready_to_test');
  });

  it('retries 503s from the API server with backoff and still deploys', async () => {
    const { svc: s, task } = await start(kubeCluster());
    const log: GiteaLog = { statuses: [], comments: [] };
    const unavailable = kubeStatus(503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
    const scope = kube().get('/api/v1').reply(200, resourceList('v1', [['namespaces', 'Namespace', false], ['services', 'Service', true]]));
    scope.patch(paths(task.id).namespace).times(3).reply(503, unavailable);
    scope
      .get('/apis/apps/v1')
      .reply(200, resourceList('apps/v1', [['deployments', 'Deployment', true]]))
      .get('/apis/networking.k8s.io/v1')
      .reply(200, resourceList('networking.k8s.io/v1', [['ingresses', 'Ingress', true]]));
    applyAndRollout(task.id, [], scope);
    // One pending status for the whole deploy: retries continue it rather than starting over.
    expectStatuses(log, [[OPENED_SHA, 'pending'], [OPENED_SHA, 'success']]);
    expectNewComment(log, 5);

    // BullMQ's backoff (2 s, 4 s, 8 s) is real; promoting the delayed retries only skips the waiting.
    const promoter = setInterval(async () => {
      for (const job of await s.queues.get('deploy').getDelayed().catch(() => [])) await job.promote().catch(() => undefined);
    }, 100);
    try {
      await send(s, 'pull_request.opened', { taskId: task.id });
      await eventually(async () => (await getTask(s, task.id)).state === 'ready_to_test', 30_000, 'ready_to_test after retries');
      await eventually(async () => nock.pendingMocks().length === 0, 10_000, 'the Gitea calls');
    } finally {
      clearInterval(promoter);
    }
    expectAllCallsMade();

    const [job] = await finishedDeployJobs(s, 1);
    expect(await job.getState()).to.equal('completed');
    expect(job.attemptsMade, "three failed attempts and the one that succeeded").to.equal(4);
    const { deployments: rows } = await deployments(s, `taskId=${task.id}`);
    expect(rows).to.have.length(1);
    expect(rows[0]).to.include({ status: 'succeeded', error: null });
    const types = (await taskEvents(s, task.id)).map((e) => e.type);
    expect(types.filter((t) => t === 'deploy:started')).to.have.length(1);
    expect(types.filter((t) => t === 'deploy:completed')).to.have.length(1);
  });

  it('an invalid manifest (422) fails once: failure status, one comment saying why, task unchanged', async () => {
    const { svc: s, task } = await start(kubeCluster());
    const log: GiteaLog = { statuses: [], comments: [] };
    const message = 'Deployment.apps "preview" is invalid: spec.template.spec.containers[0].image: Invalid value: "registry.example.com/acme/webapp:c9de627": must be pulled';
    deploymentRefused(task.id, message);
    expectStatuses(log, [[OPENED_SHA, 'pending'], [OPENED_SHA, 'failure']]);
    expectNewComment(log, 31);

    const job = await deployOpened(s, task.id, 'the failure reports');

    expect(await job.getState()).to.equal('failed');
    expect(job.attemptsMade, 'an invalid manifest is not retried').to.equal(1);
    expect(job.failedReason).to.contain('HTTP 422 Invalid');
    expect(log.statuses[1].description).to.match(/^preview failed: apply Deployment preview-task-\d+\/preview failed: HTTP 422 Invalid/);
    expect(log.comments).to.have.length(1);
    expect(log.comments[0].body).to.contain('failed').and.to.contain(message).and.to.contain('`/retry`');
    expect(await getTask(s, task.id)).to.include({ state: 'in_progress', previewUrl: null });
    const { deployments: rows } = await deployments(s, `taskId=${task.id}`);
    expect(rows[0]).to.include({ status: 'failed', url: null });
    expect(rows[0].error).to.contain(message);
    expect(rows[0].finishedAt).to.be.a('string');
    const events = await taskEvents(s, task.id);
    expect(events.map((e) => e.type).slice(-2)).to.deep.equal(['deploy:started', 'deploy:completed']);
    expect(events.at(-1).reason).to.contain('HTTP 422');
  });

  it('a 503 on every attempt fails for good on the last one', async () => {
    const { svc: s, task } = await start(kubeCluster());
    const log: GiteaLog = { statuses: [], comments: [] };
    kube()
      .get('/api/v1')
      .reply(200, resourceList('v1', [['namespaces', 'Namespace', false]]))
      .patch(paths(task.id).namespace)
      .times(5)
      .reply(503, kubeStatus(503, 'ServiceUnavailable', 'etcdserver: leader changed'));
    expectStatuses(log, [[OPENED_SHA, 'pending'], [OPENED_SHA, 'failure']]);
    expectNewComment(log, 6);

    const promoter = setInterval(async () => {
      for (const job of await s.queues.get('deploy').getDelayed().catch(() => [])) await job.promote().catch(() => undefined);
    }, 100);
    let job;
    try {
      await send(s, 'pull_request.opened', { taskId: task.id });
      job = await eventually(async () => {
        const [failed] = await s.queues.get('deploy').getFailed();
        return failed;
      }, 30_000, 'the deploy to fail');
      await eventually(async () => nock.pendingMocks().length === 0, 10_000, 'the failure reports');
    } finally {
      clearInterval(promoter);
    }
    expectAllCallsMade();

    expect(job.attemptsMade).to.equal(5);
    expect(log.comments).to.have.length(1);
    expect(log.comments[0].body).to.contain('leader changed');
    expect(await getTask(s, task.id)).to.include({ state: 'in_progress', previewUrl: null });
    const { deployments: rows } = await deployments(s, `taskId=${task.id}`);
    expect(rows).to.have.length(1);
    expect(rows[0].status).to.equal('failed');
    expect(rows[0].error).to.contain('HTTP 503');
  });

  it('/retry after a failure re-runs the same deploy, and the failure comment becomes the preview comment', async () => {
    const { svc: s, task } = await start(kubeCluster());
    const log: GiteaLog = { statuses: [], comments: [] };
    const scope = deploymentRefused(task.id, 'Deployment.apps "preview" is invalid: spec.replicas: Invalid value: -1');
    expectStatuses(log, [[OPENED_SHA, 'pending'], [OPENED_SHA, 'failure']]);
    expectNewComment(log, 64);
    await send(s, 'pull_request.opened', { taskId: task.id });
    await finishedDeployJobs(s, 1);
    await eventually(async () => nock.pendingMocks().length === 0, 10_000, 'the failure reports');

    // The cluster is fixed; /retry (JobScheduler.retryLastFailed) runs the failed job again.
    scope.get('/apis/networking.k8s.io/v1').reply(200, resourceList('networking.k8s.io/v1', [['ingresses', 'Ingress', true]]));
    applyAndRollout(task.id, [], scope);
    expectStatuses(log, [[OPENED_SHA, 'pending'], [OPENED_SHA, 'success']]);
    expectEditedComment(log, 64);
    const retried = await s.jobs.retryLastFailed(task.id);
    expect(retried?.name).to.equal('preview-deploy');
    await eventually(async () => (await getTask(s, task.id)).state === 'ready_to_test', 15_000, 'ready_to_test after /retry');
    await eventually(async () => nock.pendingMocks().length === 0, 10_000, 'the success reports');
    expectAllCallsMade();

    expect(log.comments.map((c) => c.method)).to.deep.equal(['POST', 'PATCH']);
    expect(log.comments[1].body).to.contain(`https://task-${task.id}.${DOMAIN}`);
    const { deployments: rows } = await deployments(s, `taskId=${task.id}`);
    expect(rows.map((d: any) => [d.status, d.jobId, d.error])).to.deep.equal([['succeeded', retried!.id, null]]);
    const types = (await taskEvents(s, task.id)).map((e) => e.type);
    expect(types.slice(-6)).to.deep.equal(['deploy:started', 'deploy:completed', 'deploy:started', 'task:status_changed', 'task:ready_to_test', 'deploy:completed']);
  });

  it('a push during the rollout: the finished preview is stale, so the task waits for the new head', async () => {
    const { svc: s, task } = await start(kubeCluster());
    const log: GiteaLog = { statuses: [], comments: [] };
    const newer = 'f'.repeat(40);
    const p = paths(task.id);
    discovery()
      .patch(p.namespace)
      .reply(200, (_uri, body) => applied(body))
      .patch(p.deployment)
      .reply(200, (_uri, body) => applied(body))
      .patch(p.service)
      .reply(200, (_uri, body) => applied(body))
      .patch(p.ingress)
      .reply(200, (_uri, body) => applied(body))
      .get(p.read)
      .reply(200, async () => {
        // What a push handled while the rollout runs does to the task (handlers/lib/tasks.ts recordHead).
        await setTaskColumns(s.deps, task.id, { head_sha: newer });
        return availableDeployment(task.id);
      });
    expectStatuses(log, [[OPENED_SHA, 'pending'], [OPENED_SHA, 'success']]);

    const job = await deployOpened(s, task.id, 'the status');

    expect(job.returnvalue).to.include({ status: 'succeeded', current: false });
    expect(log.statuses[1].description).to.equal(`preview deployed; superseded by ${newer.slice(0, 7)}`);
    expect(log.comments).to.deep.equal([]);
    expect(await getTask(s, task.id)).to.include({ state: 'in_progress', previewUrl: null, headSha: newer });
  });

  it('dry-run (no cluster): renders and stores the manifests, says dry-run, and deploys nothing', async () => {
    const { svc: s, project, task } = await start(null);
    const log: GiteaLog = { statuses: [], comments: [] };
    expectStatuses(log, [[OPENED_SHA, 'pending'], [OPENED_SHA, 'warning']]);
    expectNewComment(log, 12);

    const job = await deployOpened(s, task.id, 'the dry-run reports');

    expect(job.returnvalue).to.include({ status: 'dry-run', url: null });
    expect(log.statuses.every((st) => st.description.startsWith('dry-run:'))).to.equal(true);
    expect(log.statuses.map((st) => st.state), 'a dry-run is never success').to.deep.equal(['pending', 'warning']);
    expect(log.statuses[1].target_url ?? '').to.equal('');
    expect(log.comments[0].body).to.contain('dry-run').and.not.to.contain('https://task-');
    // Nothing pretends to be deployed.
    expect(await getTask(s, task.id)).to.include({ state: 'in_progress', previewUrl: null });
    expect((await taskEvents(s, task.id)).map((e) => e.type)).not.to.include('task:ready_to_test');

    const list = await deployments(s, `projectId=${project.id}`);
    expect(list.total).to.equal(1);
    const [listed] = list.deployments;
    expect(listed).to.include({ kind: 'preview', environment: 'preview', dryRun: true, url: null, commitSha: OPENED_SHA, status: 'succeeded' });
    expect(listed).not.to.have.property('manifests');
    const one = await s.api('GET', `/api/deployments/${listed.id}`);
    expect(one.status).to.equal(200);
    expect(one.body.manifests.map((m: any) => `${m.kind}/${m.metadata.name}`)).to.deep.equal([
      `Namespace/preview-task-${task.id}`,
      'Deployment/preview',
      'Service/preview',
      'Ingress/preview',
    ]);
    expect(one.body.manifests[1].spec.template.spec.containers[0].image).to.equal(`${IMAGE}:${OPENED_SHA}`);
    expect((await s.api('GET', '/api/deployments/999999')).status).to.equal(404);
    expect((await s.api('GET', '/api/deployments?environment=qa')).status).to.equal(400);

    // The teardown of a dry-run preview is recorded as a dry-run too.
    await send(s, 'pull_request.closed', { taskId: task.id });
    const teardown = await eventually(async () => {
      const { deployments: rows } = await deployments(s, `taskId=${task.id}`);
      return rows.find((d: any) => d.kind === 'teardown' && d.status === 'succeeded');
    }, 10_000, 'the dry-run teardown record');
    expect(teardown).to.include({ dryRun: true, environment: 'preview' });
    expectAllCallsMade();
  });

  it('preview settings that cannot be rendered fail at once, without calling the cluster', async () => {
    const { svc: s, task } = await start(kubeCluster(), { previewImage: IMAGE, previewSettings: { containerPort: 70000 } });
    const log: GiteaLog = { statuses: [], comments: [] };
    expectStatuses(log, [[OPENED_SHA, 'pending'], [OPENED_SHA, 'failure']]);
    expectNewComment(log, 3);

    const job = await deployOpened(s, task.id, 'the failure reports');

    expect(await job.getState()).to.equal('failed');
    expect(job.attemptsMade).to.equal(1);
    expect(log.comments[0].body).to.contain('invalid container port: 70000');
    const { deployments: rows } = await deployments(s, `taskId=${task.id}`);
    expect(rows[0]).to.include({ status: 'failed' });
    expect(rows[0].error).to.contain('cannot be rendered');
    expect(await getTask(s, task.id)).to.include({ state: 'in_progress', previewUrl: null });
  });

  it('a project without previews deploys nothing and calls nobody', async () => {
    const { svc: s, task } = await start(kubeCluster(), {});
    await send(s, 'pull_request.opened', { taskId: task.id });
    const [job] = await finishedDeployJobs(s, 1);
    expect(job.returnvalue).to.include({ status: 'skipped' });
    expect(job.returnvalue.note).to.contain('without previews');
    expectAllCallsMade();
    expect((await deployments(s, `taskId=${task.id}`)).total).to.equal(0);
    expect(await getTask(s, task.id)).to.include({ state: 'in_progress', previewUrl: null });
  });

  it('PR closed without merge: the preview namespace is deleted and the URL cleared', async () => {
    const { svc: s, task } = await start(kubeCluster());
    await openAndDeploy(s, task.id, 8);
    expect((await getTask(s, task.id)).state).to.equal('ready_to_test');

    const deleted = kube()
      .delete(`/api/v1/namespaces/preview-task-${task.id}`)
      .query({ propagationPolicy: 'Background' })
      .reply(200, { kind: 'Namespace', apiVersion: 'v1', metadata: { name: `preview-task-${task.id}`, deletionTimestamp: '2025-06-03T09:00:00Z' }, status: { phase: 'Terminating' } });
    await send(s, 'pull_request.closed', { taskId: task.id });
    await eventually(async () => deleted.isDone(), 10_000, 'the namespace deletion');
    const teardown = await eventually(async () => {
      const { deployments: rows } = await deployments(s, `taskId=${task.id}`);
      return rows.find((d: any) => d.kind === 'teardown' && d.status === 'succeeded');
    }, 10_000, 'the teardown record');
    expectAllCallsMade();

    expect(teardown).to.include({ environment: 'preview', dryRun: false, url: `https://task-${task.id}.${DOMAIN}` });
    expect(await getTask(s, task.id)).to.include({ state: 'in_progress', previewUrl: null });
  });

  it('cleanup deletes previews of finished, expired and vanished tasks, and keeps live ones', async () => {
    const { svc: s, project, task: live } = await start(kubeCluster(), { previewImage: IMAGE }, false);
    const cancelled = await createTask(s, project.id, 'Cancelled');
    expect((await s.api('PATCH', `/api/tasks/${cancelled.id}`, { state: 'cancelled' })).status).to.equal(200);
    const expired = await createTask(s, project.id, 'Expired');
    await setTaskColumns(s.deps, expired.id, { preview_url: `https://task-${expired.id}.${DOMAIN}` });

    const future = new Date(Date.now() + 3600_000).toISOString();
    const past = new Date(Date.now() - 60_000).toISOString();
    const namespace = (name: string, labels: Record<string, string>, expiresAt?: string) => ({
      metadata: {
        name,
        uid: `uid-${name}`,
        resourceVersion: '1',
        creationTimestamp: new Date().toISOString(),
        labels: { 'kubernetes.io/metadata.name': name, 'app.kubernetes.io/managed-by': 'aiworker', ...labels },
        ...(expiresAt ? { annotations: { 'aiworker.dev/expires-at': expiresAt } } : {}),
      },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    });
    const of = (taskId: number, pid = project.id) => ({ 'aiworker.dev/project': String(pid), 'aiworker.dev/task': String(taskId) });
    kube()
      .get('/api/v1/namespaces')
      .query({ labelSelector: 'app.kubernetes.io/managed-by=aiworker', limit: '500' })
      .reply(200, {
        kind: 'NamespaceList',
        apiVersion: 'v1',
        metadata: { resourceVersion: '900' },
        items: [
          namespace(`preview-task-${live.id}`, of(live.id), future),
          namespace(`preview-task-${cancelled.id}`, of(cancelled.id), future),
          namespace(`preview-task-${expired.id}`, of(expired.id), past),
          namespace('preview-task-424242', of(424242), future),
          // Same task id, other project: not this task's preview (another installation's, or a stale one).
          namespace('preview-task-other', of(live.id, project.id + 1000), future),
        ],
      });
    const deletions: string[] = [];
    for (const name of [`preview-task-${cancelled.id}`, `preview-task-${expired.id}`, 'preview-task-424242', 'preview-task-other']) {
      kube()
        .delete(`/api/v1/namespaces/${name}`)
        .query({ propagationPolicy: 'Background' })
        .reply(200, () => {
          deletions.push(name);
          return { kind: 'Namespace', apiVersion: 'v1', metadata: { name }, status: { phase: 'Terminating' } };
        });
    }

    // The scheduler runs its first round right away, then every `everyMs`.
    await schedulePreviewCleanup(s.queues, 3600_000);
    const job = await eventually(async () => {
      const jobs = await s.queues.get('cleanup').getJobs(['completed', 'failed']);
      return jobs.find((j) => j.name === 'preview-cleanup');
    }, 15_000, 'the first cleanup round');
    expectAllCallsMade();

    expect(await job.getState()).to.equal('completed');
    expect(deletions.sort()).to.deep.equal([`preview-task-${cancelled.id}`, `preview-task-${expired.id}`, 'preview-task-424242', 'preview-task-other'].sort());
    expect(job.returnvalue).to.include({ kept: 1 });
    const schedulers = await s.queues.get('cleanup').getJobSchedulers();
    expect(schedulers.map((x) => [x.key, x.every])).to.deep.equal([['preview-cleanup', 3600_000]]);
    expect(await getTask(s, expired.id)).to.include({ previewUrl: null });
    const { deployments: rows } = await deployments(s, `projectId=${project.id}`);
    expect(rows.map((d: any) => [d.taskId, d.kind, d.status]).sort()).to.deep.equal(
      [
        [cancelled.id, 'teardown', 'succeeded'],
        [expired.id, 'teardown', 'succeeded'],
      ].sort(),
    );
  });
});
