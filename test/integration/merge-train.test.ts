import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import nock from 'nock';
import { createKubeCluster, type KubeCluster } from '../../src/k8s/cluster.js';
import { lockKeys } from '../../src/queue/lock.js';
import { MergeRunStore } from '../../src/merges/runs.js';
import type { QueueName } from '../../src/queue/queues.js';
import { giteaDelivery, type DeliveryOptions } from '../support/gitea-delivery.js';
import { fakeGitea, GITEA_URL, type FakeGitea } from '../support/fake-gitea.js';
import { giteaBranch, giteaCommit, giteaPull, giteaUser } from '../support/gitea-shapes.js';
import { createTask, eventually, moveTask, REDIS_URL, startTestService, type TestService } from '../support/service.js';
import { setTaskColumns } from '../support/task-rows.js';

const K8S = 'https://k8s.test:6443';
const K8S_TOKEN = 'test-service-account-token';
const MAIN_SHA = 'a1'.repeat(20);
const PREVIOUS_START = '2025-01-01T00:00:00Z';
const CONFLICT_409 = {
  Style: 'merge',
  StdOut: 'Auto-merging src/login.ts\nCONFLICT (content): Merge conflict in src/login.ts\nAutomatic merge failed; fix conflicts and then commit the result.\n',
  StdErr: '',
  Err: {},
};
const TRY_LATER = { message: 'Please try again later', url: `${GITEA_URL}/api/swagger` };

/** JSON columns and non-JSON content types (merge patches) arrive as text. */
const jsonOf = (v: unknown): any => (typeof v === 'string' ? JSON.parse(v) : v);

let shaCounter = 0;
/** A fresh, valid-looking commit sha. */
const nextSha = () => (++shaCounter).toString(16).padStart(40, 'c');

// ---------------------------------------------------------------------------------------------
// Gitea: branches and pull requests of one repository, answered with Gitea's response shapes
// (swagger.v1.json Branch, PullRequest; merge 200 with an empty body), every merge recorded.

interface FakePull {
  number: number;
  head: string;
  headSha: string;
  base: string;
  state: 'open' | 'closed';
  merged: boolean;
  mergeable: boolean;
  title: string;
  body: string;
  mergeBase: string;
  /** The commit its merge made. */
  mergeSha?: string;
}

type Reply = [number, unknown?];

class FakeRepo {
  readonly branches = new Map<string, string>([['main', MAIN_SHA]]);
  readonly pulls = new Map<number, FakePull>();
  /** Every POST …/merge, in order, with its body. */
  readonly mergeCalls: Array<{ number: number; body: any }> = [];
  readonly createdPulls: any[] = [];
  readonly createdBranches: any[] = [];
  /** One-shot answers that take precedence, keyed `METHOD /path` (path after the repo). */
  private readonly scripted = new Map<string, Reply[]>();

  constructor(readonly repo: string) {}

  script(key: string, ...replies: Reply[]): void {
    this.scripted.set(key, [...(this.scripted.get(key) ?? []), ...replies]);
  }

  addPull(p: Partial<FakePull> & { number: number; head: string; headSha: string }): FakePull {
    const pull: FakePull = { base: 'staging', state: 'open', merged: false, mergeable: true, title: p.head, body: '', mergeBase: MAIN_SHA, ...p };
    this.pulls.set(pull.number, pull);
    return pull;
  }

  private take(key: string): Reply | null {
    const queue = this.scripted.get(key);
    return queue?.length ? queue.shift()! : null;
  }

  private branchJson(name: string) {
    const sha = this.branches.get(name)!;
    return giteaBranch(
      name,
      giteaCommit({
        id: sha,
        message: `Merge into ${name}\n`,
        url: `${GITEA_URL}/${this.repo}/commit/${sha}`,
        author: { name: 'aiworker', email: 'bot@example.com', username: 'aiworker-bot' },
      }),
    );
  }

  private pullJson(p: FakePull) {
    const user = giteaUser(GITEA_URL, 'agent1');
    return giteaPull(GITEA_URL, {
      number: p.number,
      repo: this.repo,
      user,
      title: p.title,
      body: p.body,
      state: p.state,
      mergeable: p.mergeable,
      merged: p.merged ? { sha: this.branches.get(p.base)!, by: user, at: '2026-02-21T12:30:00Z' } : null,
      base: p.base,
      baseSha: this.branches.get(p.base) ?? MAIN_SHA,
      head: p.head,
      headSha: p.headSha,
      mergeBase: p.mergeBase,
    });
  }

  install(): nock.Scope {
    const base = `/api/v1/repos/${this.repo}`;
    const path = (uri: string) => uri.slice(base.length).split('?')[0];
    const notFound = [404, { message: 'The target couldn\'t be found.', url: `${GITEA_URL}/api/swagger`, errors: [] }] as const;
    return nock(GITEA_URL, { reqheaders: { authorization: 'token x' } })
      .persist()
      .get(new RegExp(`^${base}/branches/.+$`))
      .reply((uri) => {
        const name = decodeURIComponent(path(uri).slice('/branches/'.length));
        return this.take(`GET /branches/${name}`) ?? (this.branches.has(name) ? [200, this.branchJson(name)] : notFound);
      })
      .post(`${base}/branches`)
      .reply((_uri, body: any) => {
        this.createdBranches.push(body);
        if (this.branches.has(body.new_branch_name)) return [409, { message: 'The branch already exists.', url: '' }];
        this.branches.set(body.new_branch_name, this.branches.get(body.old_ref_name)!);
        return [201, this.branchJson(body.new_branch_name)];
      })
      .get(new RegExp(`^${base}/pulls/\\d+/merge$`))
      .reply((uri) => {
        const pull = this.pulls.get(Number(path(uri).split('/')[2]));
        return pull?.merged ? [204] : [404, { message: 'pull request has not been merged', url: '' }];
      })
      .post(new RegExp(`^${base}/pulls/\\d+/merge$`))
      .reply((uri, body: any) => {
        const number = Number(path(uri).split('/')[2]);
        this.mergeCalls.push({ number, body });
        const scripted = this.take(`POST /pulls/${number}/merge`);
        if (scripted) return scripted;
        const pull = this.pulls.get(number);
        if (!pull || pull.state !== 'open') return notFound;
        // Gitea's ErrHasMerged: 405 with an empty message.
        if (pull.merged) return [405, { message: '', url: '' }];
        if (body.head_commit_id && body.head_commit_id !== pull.headSha) return [409, { message: 'head out of date', url: '' }];
        pull.merged = true;
        pull.state = 'closed';
        pull.mergeSha = nextSha();
        this.branches.set(pull.base, pull.mergeSha);
        return [200];
      })
      .get(new RegExp(`^${base}/commits/[0-9a-f]+/pull$`))
      .reply((uri) => {
        const sha = path(uri).split('/')[2];
        const pull = [...this.pulls.values()].find((p) => p.mergeSha === sha);
        return this.take(`GET /commits/${sha}/pull`) ?? (pull ? [200, this.pullJson(pull)] : notFound);
      })
      .get(new RegExp(`^${base}/pulls/\\d+$`))
      .reply((uri) => {
        const number = Number(path(uri).split('/')[2]);
        const pull = this.pulls.get(number);
        return this.take(`GET /pulls/${number}`) ?? (pull ? [200, this.pullJson(pull)] : notFound);
      })
      .get(new RegExp(`^${base}/pulls/[A-Za-z][^/]*/.+$`))
      .reply((uri) => {
        const [, , baseRef, ...head] = path(uri).split('/');
        const pull = [...this.pulls.values()].find((p) => p.base === baseRef && p.head === head.join('/') && p.state === 'open');
        return pull ? [200, this.pullJson(pull)] : notFound;
      })
      .post(`${base}/pulls`)
      .reply((_uri, body: any) => {
        this.createdPulls.push(body);
        const scripted = this.take('POST /pulls');
        if (scripted) return scripted;
        const number = 100 + this.pulls.size;
        const pull = this.addPull({ number, head: body.head, headSha: this.branches.get(body.head)!, base: body.base, title: body.title, body: body.body });
        return [201, this.pullJson(pull)];
      });
  }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes: the real client against a fake API server, as in test/k8s-cluster.test.ts.

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
      source: { repoURL: `${GITEA_URL}/acme/webapp.git`, path: 'deploy', targetRevision: 'staging' },
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
        syncResult: { revision, source: { repoURL: `${GITEA_URL}/acme/webapp.git` }, resources: [] },
      },
    },
  };
}

/** Argo CD: idle Application, our merge patch (optionally checked), then the operation's end state. */
function argoSync(name: string, end: { phase: string; message: string }, revision: (r: string) => boolean) {
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

// ---------------------------------------------------------------------------------------------

describe('staging merge train, promotion and Argo CD sync', function () {
  this.timeout(60_000);
  let svc: TestService;
  let comments: FakeGitea;
  let repoCounter = 0;

  before(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1|localhost/);
    svc = await startTestService({ GITEA_URL, GITEA_TOKEN: 'x', GITEA_BOT_LOGIN: 'aiworker-bot' }, { cluster: testCluster() });
  });
  after(async () => {
    await svc?.cleanup();
    nock.cleanAll();
    nock.enableNetConnect();
  });
  afterEach(() => nock.cleanAll());

  /** A project on its own repository, with Gitea faked for it. */
  async function project(extra: Record<string, unknown> = {}, repo = `acme/train-${++repoCounter}`) {
    const fake = new FakeRepo(repo);
    fake.install();
    comments = fakeGitea(repo);
    const res = await svc.api('POST', '/api/projects', { name: repo, repo, ...extra });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return { project: res.body, fake };
  }

  /** A task with an open PR into staging, approved through REST. */
  async function approvedTask(projectId: number, fake: FakeRepo, prNumber: number) {
    const t = await createTask(svc, projectId, `Task for #${prNumber}`);
    const branch = `task-${t.id}-work`;
    const headSha = nextSha();
    await setTaskColumns(svc.deps, t.id, { pr_number: prNumber, pr_url: `${GITEA_URL}/${fake.repo}/pulls/${prNumber}`, branch, head_sha: headSha });
    fake.addPull({ number: prNumber, head: branch, headSha });
    for (const state of ['in_progress', 'approved']) {
      const res = await svc.api('PATCH', `/api/tasks/${t.id}`, { state });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
    }
    // approved_at has millisecond precision: keep approvals distinct.
    await sleep(5);
    return { ...t, headSha, prNumber };
  }

  async function finished(queue: QueueName, jobId: string, timeoutMs = 20_000) {
    return eventually(
      async () => {
        const state = await svc.queues.get(queue).getJobState(jobId);
        if (state !== 'completed' && state !== 'failed') return null;
        // Read after the state: a job read while active has no result yet.
        return { state, job: (await svc.queues.get(queue).getJob(jobId))! };
      },
      timeoutMs,
      `job ${jobId} to finish`,
    );
  }

  async function train(taskIds: number[]) {
    const res = await svc.api('POST', '/api/merge', { taskIds });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    const { state, job } = await finished('merge', res.body.jobId);
    expect(state, job.failedReason).to.equal('completed');
    return { jobId: res.body.jobId as string, result: job.returnvalue };
  }

  const stateOf = async (id: number) => (await svc.api('GET', `/api/tasks/${id}`)).body.state;

  async function deployEvents(projectId: number) {
    const rows = await svc.db('task_events').where({ project_id: projectId }).whereIn('type', ['deploy:started', 'deploy:completed']).orderBy('id');
    // Preview deploys and teardowns of the same project publish these events too.
    return rows.map((r: any) => ({ type: r.type, ...jsonOf(r.data) })).filter((e: any) => e.environment !== 'preview');
  }

  async function deliver(name: string, opts: DeliveryOptions) {
    const d = giteaDelivery(name, opts);
    expect((await svc.deliver(d)).status).to.equal(202);
    expect(await svc.settled(d.id)).to.equal('processed');
  }

  describe('POST /api/merge refusals', () => {
    it('names missing tasks (404), mixed projects (400) and tasks that are not approved (409)', async () => {
      const a = await project();
      const b = await project();
      const approved = await approvedTask(a.project.id, a.fake, 1);
      const inProgress = await createTask(svc, a.project.id, 'not yet');
      await svc.api('PATCH', `/api/tasks/${inProgress.id}`, { state: 'in_progress' });
      const backlog = await createTask(svc, a.project.id, 'not started');
      const other = await approvedTask(b.project.id, b.fake, 2);

      const missing = await svc.api('POST', '/api/merge', { taskIds: [approved.id, 999998, 999999] });
      expect(missing.status).to.equal(404);
      expect(missing.body.error.code).to.equal('not_found');
      expect(missing.body.error.message).to.equal('tasks 999998, 999999 not found');

      const mixed = await svc.api('POST', '/api/merge', { taskIds: [approved.id, other.id] });
      expect(mixed.status).to.equal(400);
      expect(mixed.body.error.message).to.match(/one project/);

      const refused = await svc.api('POST', '/api/merge', { taskIds: [approved.id, inProgress.id, backlog.id] });
      expect(refused.status).to.equal(409);
      expect(refused.body.error).to.include({ code: 'conflict' });
      expect(refused.body.error.message).to.equal(
        `only approved tasks can be merged into staging: task ${inProgress.id} is in_progress, task ${backlog.id} is backlog`,
      );

      for (const body of [{}, { taskIds: [] }, { taskIds: ['1'] }]) {
        expect((await svc.api('POST', '/api/merge', body)).status, JSON.stringify(body)).to.equal(400);
      }
      expect((await svc.api('POST', '/api/projects/999999/promote')).status).to.equal(404);
      expect((await svc.api('GET', '/api/projects/999999/merges')).status).to.equal(404);
      // Nothing reached the merge queue or Gitea.
      const jobs = await svc.queues.get('merge').getJobs(['waiting', 'delayed', 'active', 'completed', 'failed']);
      expect(jobs.filter((j) => j.data.projectId === a.project.id || j.data.projectId === b.project.id)).to.deep.equal([]);
      expect(a.fake.mergeCalls).to.deep.equal([]);
    });
  });

  describe('the staging-merge job', () => {
    it('creates staging from main, merges in approval order with the approved head, and leaves the task states to Gitea', async () => {
      const { project: p, fake } = await project({ mergeStyle: 'squash' });
      const t1 = await approvedTask(p.id, fake, 11);
      const t2 = await approvedTask(p.id, fake, 12);
      const t3 = await approvedTask(p.id, fake, 13);
      // Re-approve t1 last: approval order is t2, t3, t1.
      await moveTask(svc, t1.id, 'in_progress', 'approved');

      const { jobId, result } = await train([t1.id, t2.id, t3.id]);

      expect(fake.createdBranches).to.deep.equal([{ new_branch_name: 'staging', old_ref_name: 'main' }]);
      expect(fake.mergeCalls).to.deep.equal([
        { number: 12, body: { Do: 'squash', head_commit_id: t2.headSha } },
        { number: 13, body: { Do: 'squash', head_commit_id: t3.headSha } },
        { number: 11, body: { Do: 'squash', head_commit_id: t1.headSha } },
      ]);
      expect(result).to.deep.include({
        status: 'succeeded',
        merged: [
          { taskId: t2.id, prNumber: 12 },
          { taskId: t3.id, prNumber: 13 },
          { taskId: t1.id, prNumber: 11 },
        ],
        conflicts: [],
        skipped: [],
        revision: fake.branches.get('staging'),
        // No Argo CD application: no sync.
        syncJobId: null,
      });
      // Webhooks are the truth: until Gitea's merged deliveries arrive, the tasks stay approved.
      for (const t of [t1, t2, t3]) expect(await stateOf(t.id)).to.equal('approved');

      const history = await svc.api('GET', `/api/projects/${p.id}/merges?limit=10`);
      expect(history.status).to.equal(200);
      expect(history.body.total).to.equal(1);
      expect(history.body.merges[0]).to.deep.include({
        kind: 'staging',
        jobId,
        status: 'succeeded',
        requestedBy: 'api',
        taskIds: [t1.id, t2.id, t3.id],
        revision: fake.branches.get('staging'),
        error: null,
      });
      expect(history.body.merges[0].merged.map((m: any) => m.prNumber)).to.deep.equal([12, 13, 11]);
      expect(history.body.merges[0].finishedAt).to.be.a('string');
    });

    it('a conflict in the middle sends that task back with a comment; the others still merge', async () => {
      const { project: p, fake } = await project();
      const t1 = await approvedTask(p.id, fake, 21);
      const t2 = await approvedTask(p.id, fake, 22);
      const t3 = await approvedTask(p.id, fake, 23);
      fake.script('POST /pulls/22/merge', [409, CONFLICT_409]);

      const { result } = await train([t1.id, t2.id, t3.id]);

      expect(fake.mergeCalls.map((c) => c.number)).to.deep.equal([21, 22, 23]);
      expect(fake.pulls.get(21)!.merged && fake.pulls.get(23)!.merged).to.equal(true);
      expect(fake.pulls.get(22)!.merged).to.equal(false);
      const reason = 'its changes conflict with `staging` in `src/login.ts`';
      expect(result.status).to.equal('conflicts');
      expect(result.merged).to.deep.equal([
        { taskId: t1.id, prNumber: 21 },
        { taskId: t3.id, prNumber: 23 },
      ]);
      expect(result.conflicts).to.deep.equal([{ taskId: t2.id, prNumber: 22, reason }]);

      expect(await stateOf(t2.id)).to.equal('in_progress');
      expect(await stateOf(t1.id)).to.equal('approved');
      expect(await stateOf(t3.id)).to.equal('approved');
      const events = (await svc.api('GET', `/api/tasks/${t2.id}/events`)).body.events;
      expect(events.at(-1)).to.include({ from: 'approved', to: 'in_progress', actor: 'aiworker', reason: `merge into staging failed: ${reason}` });
      const detail = (await svc.api('GET', `/api/tasks/${t2.id}`)).body;
      expect(detail.feedback.map((f: any) => [f.kind, f.body])).to.deep.equal([['merge_conflict', reason]]);
      expect(comments.comments).to.have.length(1);
      expect(comments.comments[0].index).to.equal(22);
      expect(comments.comments[0].body).to.contain(`Could not merge this pull request into \`staging\`: ${reason}.`);
      expect(comments.comments[0].body).to.contain(`Task ${t2.id} is back in progress`);
      expect(comments.comments[0].body).to.contain('<!-- aiworker -->');
    });

    it('retries a 405 "Please try again later", and treats a PR still unmergeable after that as a conflict', async () => {
      const { project: p, fake } = await project();
      const slow = await approvedTask(p.id, fake, 31);
      const stuck = await approvedTask(p.id, fake, 32);
      fake.script('POST /pulls/31/merge', [405, TRY_LATER]);
      // The client's first attempt and its 4 retries all hear "try again later"; Gitea then reports mergeable: false.
      fake.script('POST /pulls/32/merge', ...Array.from({ length: 5 }, (): Reply => [405, TRY_LATER]));
      fake.pulls.get(32)!.mergeable = false;

      const { result } = await train([slow.id, stuck.id]);

      expect(fake.mergeCalls.map((c) => c.number)).to.deep.equal([31, 31, 32, 32, 32, 32, 32]);
      expect(result.merged).to.deep.equal([{ taskId: slow.id, prNumber: 31 }]);
      expect(result.conflicts).to.deep.equal([
        { taskId: stuck.id, prNumber: 32, reason: 'Gitea reports that it cannot be merged into `staging` (conflicting changes)' },
      ]);
      expect(await stateOf(stuck.id)).to.equal('in_progress');
      expect(comments.comments.map((c) => c.index)).to.deep.equal([32]);
    });

    it('never merges twice: a retried job and a second train skip what Gitea already merged', async () => {
      const { project: p, fake } = await project();
      const first = await approvedTask(p.id, fake, 41);
      const second = await approvedTask(p.id, fake, 42);
      // The first attempt merges #41, then fails reading #42 (403 is not retried by the client): BullMQ retries the job.
      fake.script('GET /pulls/42', [403, { message: 'token does not have at least one of required scope(s): [read:repository]', url: '' }]);

      const { jobId, result } = await train([first.id, second.id]);

      const job = await svc.queues.get('merge').getJob(jobId);
      expect(job!.attemptsMade).to.equal(2);
      expect(fake.mergeCalls.map((c) => c.number)).to.deep.equal([41, 42]);
      expect(result.merged).to.deep.equal([{ taskId: second.id, prNumber: 42 }]);
      expect(result.skipped).to.deep.equal([{ taskId: first.id, prNumber: 41, reason: 'already merged' }]);

      // Gitea's deliveries have not arrived yet, so the tasks are still approved: a new train skips them too.
      const again = await train([first.id, second.id]);
      expect(fake.mergeCalls).to.have.length(2);
      expect(again.result.status).to.equal('succeeded');
      expect(again.result.skipped.map((s: any) => s.reason)).to.deep.equal(['already merged', 'already merged']);
    });

    it('a run after one that sent tasks back posts each conflict comment once: the missing one now, the one Gitea took not again', async () => {
      const { project: p, fake } = await project();
      const unsaid = await approvedTask(p.id, fake, 81);
      const taken = await approvedTask(p.id, fake, 82);
      const last = await approvedTask(p.id, fake, 83);
      fake.script('POST /pulls/81/merge', [409, CONFLICT_409]);
      fake.script('POST /pulls/82/merge', [409, CONFLICT_409]);
      // The first attempt's comment on #81 never reaches Gitea; Gitea takes the one on #82, but its
      // answer is lost: both are what a worker dying mid-post leaves. Then the attempt fails on #83.
      const interrupted = new Set<number>();
      comments.interruptComments = (index) => {
        if (interrupted.has(index)) return null;
        interrupted.add(index);
        return index === 81 ? 'before' : index === 82 ? 'after' : null;
      };
      fake.script('GET /pulls/83', [403, { message: 'token does not have at least one of required scope(s): [read:repository]', url: '' }]);

      const { jobId, result } = await train([unsaid.id, taken.id, last.id]);

      expect((await svc.queues.get('merge').getJob(jobId))!.attemptsMade, 'ran twice').to.equal(2);
      const reason = 'its changes conflict with `staging` in `src/login.ts`';
      expect(result.conflicts).to.deep.equal([
        { taskId: unsaid.id, prNumber: 81, reason },
        { taskId: taken.id, prNumber: 82, reason },
      ]);
      expect(result.merged).to.deep.equal([{ taskId: last.id, prNumber: 83 }]);
      expect(comments.comments.map((c) => c.index)).to.have.members([81, 82]);
      expect(comments.comments).to.have.length(2);
      for (const t of [unsaid, taken]) {
        const mine = comments.comments.filter((c) => c.body.includes(`<!-- aiworker:merge-conflict=task-${t.id}:${t.headSha} -->`));
        expect(mine, `the conflict comment of task ${t.id}`).to.have.length(1);
        expect(await stateOf(t.id)).to.equal('in_progress');
        const detail = (await svc.api('GET', `/api/tasks/${t.id}`)).body;
        expect(detail.feedback.map((f: any) => [f.kind, f.headSha])).to.deep.equal([['merge_conflict', t.headSha]]);
      }
    });

    it('skips tasks that left approved after the request, with the reason', async () => {
      const { project: p, fake } = await project();
      const t = await approvedTask(p.id, fake, 51);
      // Holding the lock keeps the job waiting while the task changes.
      await svc.redis.set(lockKeys.merge(svc.config.redisPrefix, p.id), 'someone-else', 'PX', 30_000);
      const res = await svc.api('POST', '/api/merge', { taskIds: [t.id] });
      expect(res.status).to.equal(202);
      await moveTask(svc, t.id, 'in_progress');
      await svc.redis.del(lockKeys.merge(svc.config.redisPrefix, p.id));
      const { job } = await finished('merge', res.body.jobId);
      expect(job.returnvalue.status).to.equal('nothing_to_do');
      expect(job.returnvalue.skipped).to.deep.equal([{ taskId: t.id, prNumber: 51, reason: 'is in_progress, not approved' }]);
      expect(fake.mergeCalls).to.deep.equal([]);
    });

    it('runs one train per project at a time: a second one waits for the lock', async () => {
      const { project: p, fake } = await project();
      const t = await approvedTask(p.id, fake, 61);
      const key = lockKeys.merge(svc.config.redisPrefix, p.id);
      await svc.redis.set(key, 'another-train', 'PX', 30_000);

      const res = await svc.api('POST', '/api/merge', { taskIds: [t.id] });
      await sleep(1200);
      const job = await svc.queues.get('merge').getJob(res.body.jobId);
      // It looks at the lock every half second: caught between two looks, it is delayed, never done.
      await eventually(async () => (await job!.getState()) === 'delayed' || null, 5000, 'the train waiting (delayed)');
      expect(fake.mergeCalls).to.deep.equal([]);
      expect((await new MergeRunStore(svc.db).get(res.body.jobId))!.status).to.equal('queued');

      await svc.redis.del(key);
      const { state } = await finished('merge', res.body.jobId);
      expect(state).to.equal('completed');
      expect(fake.mergeCalls.map((c) => c.number)).to.deep.equal([61]);
      expect(await svc.redis.exists(key)).to.equal(0);
    });
  });

  describe('promotion', () => {
    it('opens the PR from staging to main, merges it, and the merged delivery moves the staged tasks to production', async () => {
      const { project: p, fake } = await project();
      fake.branches.set('staging', nextSha());
      const staged = await approvedTask(p.id, fake, 71);
      await svc.tasks.transition(staged.id, 'staging', { source: 'gitea', actor: 'test' });

      const res = await svc.api('POST', `/api/projects/${p.id}/promote`);
      expect(res.status).to.equal(202);
      const stagingHead = fake.branches.get('staging');
      const { state, job } = await finished('merge', res.body.jobId);
      expect(state, job.failedReason).to.equal('completed');

      expect(fake.createdPulls).to.have.length(1);
      expect(fake.createdPulls[0]).to.include({ head: 'staging', base: 'main', title: 'Promote staging to main' });
      expect(fake.createdPulls[0].body).to.contain(`- task ${staged.id}: Task for #71 (#71)`);
      // A `Task: <id>` line would link the promotion PR to a single task.
      expect(fake.createdPulls[0].body).not.to.match(/^\s*Task:/m);
      const prNumber = job.returnvalue.prNumber;
      expect(fake.mergeCalls).to.deep.equal([{ number: prNumber, body: { Do: 'merge', head_commit_id: stagingHead } }]);
      expect(job.returnvalue).to.deep.include({
        status: 'succeeded',
        merged: [{ prNumber, taskIds: [staged.id] }],
        revision: fake.branches.get('main'),
        taskIds: [staged.id],
        syncJobId: null,
      });
      expect(await stateOf(staged.id)).to.equal('staging');

      await deliver('pull_request.merged-staging', {
        prNumber,
        mutate: (pl) => {
          pl.repository.full_name = fake.repo;
          pl.pull_request.head.ref = pl.pull_request.head.label = 'staging';
          pl.pull_request.base.ref = pl.pull_request.base.label = 'main';
          pl.pull_request.body = fake.createdPulls[0].body;
        },
      });
      expect(await stateOf(staged.id)).to.equal('production');
      const history = (await svc.api('GET', `/api/projects/${p.id}/merges`)).body;
      expect(history.merges[0]).to.deep.include({ kind: 'promotion', status: 'succeeded', taskIds: [staged.id] });
    });

    it('a promotion Gitea refuses is said once on its PR, even when the run that said it did not learn so', async () => {
      const { project: p, fake } = await project();
      const stagingHead = nextSha();
      fake.branches.set('staging', stagingHead);
      fake.addPull({ number: 95, head: 'staging', headSha: stagingHead, base: 'main' });
      // Both attempts hear the conflict; Gitea takes the first attempt's comment but its answer is lost, so that attempt fails.
      fake.script('POST /pulls/95/merge', [409, CONFLICT_409], [409, CONFLICT_409]);
      let interrupted = false;
      comments.interruptComments = () => (interrupted ? null : ((interrupted = true), 'after'));

      const res = await svc.api('POST', `/api/projects/${p.id}/promote`);
      const { state, job } = await finished('merge', res.body.jobId);

      expect(state, job.failedReason).to.equal('completed');
      expect(job.attemptsMade, 'ran twice').to.equal(2);
      expect(fake.mergeCalls.map((c) => c.number)).to.deep.equal([95, 95]);
      expect(job.returnvalue).to.deep.include({ status: 'conflicts', prNumber: 95 });
      expect(comments.comments).to.have.length(1);
      expect(comments.comments[0]).to.include({ index: 95 });
      expect(comments.comments[0]!.body).to.include('Could not promote `staging` to `main`').and.include(`<!-- aiworker:promotion=${stagingHead} -->`);
    });

    it('finishes with "nothing to promote" when staging has nothing main lacks', async () => {
      const { project: p, fake } = await project();
      fake.branches.set('staging', MAIN_SHA);
      const same = await svc.api('POST', `/api/projects/${p.id}/promote`);
      const first = await finished('merge', same.body.jobId);
      expect(first.state).to.equal('completed');
      expect(first.job.returnvalue).to.deep.include({ status: 'nothing_to_do', prNumber: null, note: 'nothing to promote: staging and main are at the same commit' });

      // After an earlier promotion main has a merge commit staging lacks, yet staging adds nothing: Gitea's PR shows it.
      fake.branches.set('main', nextSha());
      fake.addPull({ number: 90, head: 'staging', headSha: MAIN_SHA, base: 'main', mergeBase: MAIN_SHA });
      const contained = await svc.api('POST', `/api/projects/${p.id}/promote`);
      const second = await finished('merge', contained.body.jobId);
      expect(second.job.returnvalue).to.deep.include({ status: 'nothing_to_do', prNumber: 90 });
      expect(second.job.returnvalue.note).to.match(/main already contains staging/);
      expect(fake.createdPulls).to.deep.equal([]);
      expect(fake.mergeCalls).to.deep.equal([]);
    });
  });

  describe('the environment-sync job (Argo CD)', () => {
    it("a sync queued by a push names the task whose pull request Gitea says made the revision, and none when Gitea names none or fails", async () => {
      const { project: p, fake } = await project({ argocdApplication: 'train-staging-ui' });
      const t = await approvedTask(p.id, fake, 91);
      // Merged in Gitea's UI: the push to staging is all that queues the sync, with no task ids.
      const merged = fake.pulls.get(91)!;
      Object.assign(merged, { merged: true, state: 'closed', mergeSha: nextSha() });
      fake.branches.set('staging', merged.mergeSha!);
      const unknown = nextSha();
      const refused = nextSha();
      fake.script(`GET /commits/${refused}/pull`, [403, { message: 'token does not have at least one of required scope(s): [read:repository]', url: '' }]);
      for (const revision of [merged.mergeSha!, unknown, refused]) {
        argoSync('train-staging-ui', { phase: 'Succeeded', message: 'successfully synced' }, (r) => r === revision);
        const { state, job } = await finished('deploy', await svc.jobs.syncEnvironment(p.id, 'staging', revision));
        expect(state, job.failedReason).to.equal('completed');
      }
      expect((await deployEvents(p.id)).filter((e: any) => e.type === 'deploy:started')).to.deep.equal([
        { type: 'deploy:started', environment: 'staging', taskIds: [t.id] },
        { type: 'deploy:started', environment: 'staging', taskIds: [] },
        { type: 'deploy:started', environment: 'staging', taskIds: [] },
      ]);
    });

    it('syncs the staging Application to the revision, follows it to Succeeded and publishes deploy:started/completed', async () => {
      const { project: p, fake } = await project({ argocdApplication: 'train-staging-ok' });
      const t = await approvedTask(p.id, fake, 81);
      const revision = nextSha();
      const argo = argoSync('train-staging-ok', { phase: 'Succeeded', message: 'successfully synced (all tasks run)' }, (r) => r === revision);
      const feed: any[] = [];
      const sub = new Redis(REDIS_URL);
      try {
        await sub.subscribe(`${svc.config.redisPrefix}:feed`);
        sub.on('message', (_channel, message) => feed.push(JSON.parse(message)));

        const jobId = await svc.jobs.syncEnvironment(p.id, 'staging', revision, [t.id]);
        const { state, job } = await finished('deploy', jobId);
        expect(state, job.failedReason).to.equal('completed');
        expect(argo.idle.isDone() && argo.patch.isDone() && argo.done.isDone()).to.equal(true);
        const url = 'https://train-staging-ok.example.com/';
        expect(job.returnvalue).to.deep.include({ status: 'succeeded', environment: 'staging', application: 'train-staging-ok', url });

        const rows = await svc.db('deployments').where({ project_id: p.id, kind: 'sync' });
        expect(rows).to.have.length(1);
        expect(rows[0]).to.include({ environment: 'staging', kind: 'sync', status: 'succeeded', url, commit_sha: revision, job_id: jobId, error: null });
        expect(Boolean(rows[0].dry_run)).to.equal(false);
        expect(jsonOf(rows[0].task_ids)).to.deep.equal([t.id]);
        expect(rows[0].finished_at).to.be.instanceOf(Date);

        expect(await deployEvents(p.id)).to.deep.equal([
          { type: 'deploy:started', environment: 'staging', taskIds: [t.id] },
          { type: 'deploy:completed', environment: 'staging', url, status: 'succeeded' },
        ]);
        await eventually(async () => feed.filter((e) => e.projectId === p.id).length === 2, 5000, 'feed messages');
        const published = feed.filter((e) => e.projectId === p.id);
        expect(published.map((e) => [e.type, e.payload.status ?? null])).to.deep.equal([
          ['deploy:started', null],
          ['deploy:completed', 'succeeded'],
        ]);
        expect(published[1].eventId).to.be.greaterThan(published[0].eventId);
      } finally {
        sub.disconnect();
      }
    });

    it('records a Failed sync of production as failed, with Argo CD\'s message, and fails the job', async () => {
      const { project: p } = await project({ argocdProductionApplication: 'train-prod-bad' });
      const message = 'one or more objects failed to apply, reason: Deployment.apps "web" is invalid';
      const revision = nextSha();
      argoSync('train-prod-bad', { phase: 'Failed', message }, (r) => r === revision);

      const jobId = await svc.jobs.syncEnvironment(p.id, 'production', revision, []);
      const { state, job } = await finished('deploy', jobId);

      expect(state).to.equal('failed');
      // Argo CD's verdict is final: no automatic retries, /retry can run it again.
      expect(job.attemptsMade).to.equal(1);
      const error = `Argo CD sync of train-prod-bad Failed: ${message}`;
      expect(job.failedReason).to.equal(error);
      const [row] = await svc.db('deployments').where({ project_id: p.id, kind: 'sync' });
      expect(row).to.include({ environment: 'production', kind: 'sync', status: 'failed', error, url: 'https://train-prod-bad.example.com/' });
      expect(await deployEvents(p.id)).to.deep.equal([
        { type: 'deploy:started', environment: 'production', taskIds: [] },
        { type: 'deploy:completed', environment: 'production', url: 'https://train-prod-bad.example.com/', status: 'failed' },
      ]);
    });

    it('does nothing for an environment without an Application', async () => {
      const { project: p } = await project({ argocdApplication: 'only-staging' });
      const jobId = await svc.jobs.syncEnvironment(p.id, 'production', nextSha(), []);
      const { job } = await finished('deploy', jobId);
      expect(job.returnvalue).to.deep.include({ status: 'skipped', deploymentId: null });
      expect(await svc.db('deployments').where({ project_id: p.id, kind: 'sync' })).to.deep.equal([]);
      expect(await deployEvents(p.id)).to.deep.equal([]);
    });
  });

  describe('end to end', () => {
    it('POST /api/merge → merges → Gitea\'s merged deliveries move the tasks to staging → the staging sync', async () => {
      const { project: p, fake } = await project({ argocdApplication: 'webapp-staging' }, 'acme/webapp');
      const t1 = await approvedTask(p.id, fake, 7);
      const t2 = await approvedTask(p.id, fake, 8);
      const argo = argoSync('webapp-staging', { phase: 'Succeeded', message: 'successfully synced' }, (r) => r === fake.branches.get('staging'));

      const { result } = await train([t2.id, t1.id]);
      expect(result.merged.map((m: any) => m.taskId)).to.deep.equal([t1.id, t2.id]);
      expect(result.syncJobId).to.be.a('string');

      // What Gitea sends after each merge.
      await deliver('pull_request.merged-staging', { taskId: t1.id, prNumber: 7 });
      await deliver('pull_request.merged-staging', { taskId: t2.id, prNumber: 8 });
      expect(await stateOf(t1.id)).to.equal('staging');
      expect(await stateOf(t2.id)).to.equal('staging');

      const sync = await finished('deploy', result.syncJobId);
      expect(sync.state, sync.job.failedReason).to.equal('completed');
      expect(sync.job.data).to.deep.equal({ projectId: p.id, environment: 'staging', revision: fake.branches.get('staging'), taskIds: [t1.id, t2.id] });
      expect(argo.patch.isDone()).to.equal(true);
      expect(await deployEvents(p.id)).to.deep.equal([
        { type: 'deploy:started', environment: 'staging', taskIds: [t1.id, t2.id] },
        { type: 'deploy:completed', environment: 'staging', url: 'https://webapp-staging.example.com/', status: 'succeeded' },
      ]);
      // The push Gitea sends for the merge queues the same sync (same revision): it is the same job, not a second deploy.
      await svc.jobs.syncEnvironment(p.id, 'staging', fake.branches.get('staging')!);
      await sleep(300);
      const syncs = (await svc.queues.get('deploy').getJobs(['waiting', 'delayed', 'active', 'completed', 'failed'])).filter(
        (j) => j.name === 'environment-sync' && j.data.projectId === p.id,
      );
      expect(syncs.map((j) => j.id)).to.deep.equal([result.syncJobId]);
      expect(await svc.db('deployments').where({ project_id: p.id, kind: 'sync' })).to.have.length(1);
    });
  });
});

describe('environment sync without Kubernetes (dry-run)', function () {
  this.timeout(30_000);
  let svc: TestService;

  before(async () => {
    svc = await startTestService({}, { cluster: null });
  });
  after(async () => {
    await svc?.cleanup();
  });

  it('records a dry-run deployment and publishes deploy:completed with status dry-run', async () => {
    const res = await svc.api('POST', '/api/projects', { name: 'web', repo: 'acme/dry', argocdApplication: 'dry-staging' });
    const jobId = await svc.jobs.syncEnvironment(res.body.id, 'staging', 'b'.repeat(40), []);
    await eventually(async () => (await svc.queues.get('deploy').getJobState(jobId)) === 'completed');
    const job = (await svc.queues.get('deploy').getJob(jobId))!;
    expect(job.returnvalue).to.deep.include({ status: 'dry-run', url: null });
    const [row] = await svc.db('deployments').where({ project_id: res.body.id });
    expect(row).to.include({ environment: 'staging', kind: 'sync', url: null, commit_sha: 'b'.repeat(40) });
    expect(Boolean(row.dry_run)).to.equal(true);
    const events = await svc.db('task_events').where({ project_id: res.body.id, type: 'deploy:completed' });
    expect(events.map((e: any) => jsonOf(e.data))).to.deep.equal([{ environment: 'staging', url: null, status: 'dry-run' }]);
  });
});
