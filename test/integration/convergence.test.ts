import { expect } from 'chai';
import { createKubeCluster } from '../../src/k8s/cluster.js';
import { giteaDelivery, loadGiteaFixture, type DeliveryOptions } from '../support/gitea-delivery.js';
import { startGiteaServer, type GiteaServer } from '../support/gitea-server.js';
import { giteaPull } from '../support/gitea-shapes.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-api-server.js';
import { createProject, createTask, eventually, moveTask, startTestService, type TestService } from '../support/service.js';

const IMAGE = 'registry.example.com/acme/webapp';
/** Heads of the pull_request.opened and pull_request.synchronized fixtures (synchronized is the newer). */
const OPENED_SHA = loadGiteaFixture('pull_request.opened').payload.pull_request.head.sha as string;
const SYNC_SHA = loadGiteaFixture('pull_request.synchronized').payload.pull_request.head.sha as string;

/**
 * Whatever order Gitea delivers in, the preview, the task's head and the commit status end on the
 * PR's current head as Gitea's API reports it, and a late delivery rolls back nothing newer.
 */
describe('handlers converge on Gitea, whatever the delivery order', function () {
  this.timeout(60_000);
  let svc: TestService;
  let gitea: GiteaServer;
  let kube: KubeApiServer;
  let project: any;
  let nextPr = 70;

  before(async () => {
    gitea = await startGiteaServer();
    kube = await startKubeApiServer();
    svc = await startTestService({ ...gitea.env(), PREVIEW_DOMAIN: 'preview.example.com' }, { cluster: createKubeCluster({ kubeConfig: kube.kubeConfig() }) });
    project = await createProject(svc, { previewImage: IMAGE });
  });
  after(async () => {
    kube?.release();
    await svc?.cleanup();
    await gitea?.close();
    await kube?.close();
  });

  /** A task with an open PR whose head in Gitea is `head`. */
  async function taskWithPull(head: string, state: 'open' | 'closed' = 'open') {
    const t = await createTask(svc, project.id);
    const pr = nextPr++;
    setPull(pr, t.id, head, state);
    return { id: t.id as number, pr };
  }
  function setPull(pr: number, taskId: number, head: string, state: 'open' | 'closed' = 'open') {
    gitea.pulls.set(pr, { ...giteaPull(gitea.url, { number: pr, head: `task-${taskId}-add-login`, headSha: head, base: 'staging', baseSha: 'a'.repeat(40), state }), updated_at: '2025-06-03T09:30:00Z' });
  }
  async function send(name: string, taskId: number, pr: number, opts: DeliveryOptions = {}) {
    const d = giteaDelivery(name, { taskId, prNumber: pr, ...opts });
    expect((await svc.deliver(d)).status).to.equal(202);
    return { status: await svc.settled(d.id), id: d.id };
  }
  const task = (id: number) => svc.tasks.get(id);
  const deploysOf = (taskId: number) => svc.db('deployments').where({ task_id: taskId, kind: 'preview' }).orderBy('id');
  const settledDeploys = async (taskId: number, count: number) =>
    eventually(async () => {
      const rows = await deploysOf(taskId);
      return rows.length >= count && rows.every((r: any) => ['succeeded', 'failed'].includes(r.status)) ? rows : null;
    }, 30_000, `${count} finished preview deploys of task ${taskId}`);
  const imagesOf = (taskId: number) =>
    kube.appliedObjects.filter((o) => o.kind === 'Deployment' && o.metadata.namespace === `preview-task-${taskId}`).map((o) => o.spec.template.spec.containers[0].image);

  it('synchronized before opened: the Deployment, the task head and the status end on the newer head', async () => {
    const { id, pr } = await taskWithPull(SYNC_SHA);
    await moveTask(svc, id, 'in_progress');
    expect((await send('pull_request.synchronized', id, pr)).status).to.equal('processed');
    // The opened delivery arrives last, with the older head and the older updated_at.
    expect((await send('pull_request.opened', id, pr)).status).to.equal('processed');
    await eventually(async () => (await task(id)).state === 'ready_to_test', 30_000, 'ready_to_test');
    const rows = await settledDeploys(id, 1);
    expect(rows.map((r: any) => r.commit_sha)).to.satisfy((shas: string[]) => shas.every((s) => s === SYNC_SHA));
    expect(await task(id)).to.include({ headSha: SYNC_SHA, prNumber: pr });
    expect(imagesOf(id).at(-1)).to.equal(`${IMAGE}:${SYNC_SHA}`);
    expect(imagesOf(id)).not.to.include(`${IMAGE}:${OPENED_SHA}`);
    // The status follows the commit of the rollout.
    const final = await eventually(async () => {
      const statuses = gitea.statuses.filter((s) => s.context === 'aiworker/preview' && [SYNC_SHA, OPENED_SHA].includes(s.sha));
      return statuses.at(-1)?.state === 'success' ? statuses : null;
    }, 10_000, 'the success status');
    expect(final.filter((s) => s.sha === OPENED_SHA), 'no status on the older head').to.deep.equal([]);
    expect(final.at(-1)).to.include({ sha: SYNC_SHA, state: 'success' });
  });

  it('a deploy queued by a late delivery deploys the head Gitea reports now, and records it', async () => {
    // Gitea already moved on to SYNC_SHA; only the opened delivery (OPENED_SHA) arrived so far.
    const { id, pr } = await taskWithPull(SYNC_SHA);
    await moveTask(svc, id, 'in_progress');
    await send('pull_request.opened', id, pr);
    await eventually(async () => (await task(id)).state === 'ready_to_test', 30_000, 'ready_to_test');
    expect((await task(id)).headSha).to.equal(SYNC_SHA);
    expect((await settledDeploys(id, 1)).map((r: any) => r.commit_sha)).to.deep.equal([SYNC_SHA]);
    expect(gitea.statuses.filter((s) => s.sha === OPENED_SHA && s.context === 'aiworker/preview')).to.deep.equal([]);
  });

  it('closed before reopened, delivered the other way round: the late close takes nothing down', async () => {
    const { id, pr } = await taskWithPull(SYNC_SHA);
    await moveTask(svc, id, 'in_progress');
    await send('pull_request.reopened', id, pr);
    await eventually(async () => (await task(id)).state === 'ready_to_test', 30_000, 'ready_to_test');
    const late = await send('pull_request.closed', id, pr);
    expect(late.status).to.equal('ignored');
    expect((await svc.deliveries.get(late.id))!.last_error).to.match(/older than what task \d+ holds/);
    expect(await task(id)).to.include({ state: 'ready_to_test' });
    const teardowns = (await svc.queues.get('deploy').getJobs(['waiting', 'delayed', 'active', 'completed', 'failed'])).filter((j) => j.name === 'preview-teardown' && j.data.taskId === id);
    expect(teardowns).to.have.length(0);
  });

  it('a review approving an outdated head approves nothing and says so once', async () => {
    const { id, pr } = await taskWithPull(SYNC_SHA);
    await send('pull_request.synchronized', id, pr);
    await eventually(async () => (await task(id)).state === 'ready_to_test', 30_000, 'ready_to_test');
    gitea.setPermission('bob', 'write');
    const before = gitea.comments.length;
    // Approved at the opened head (08:15), delivered after the newer head was recorded.
    const review = await send('pull_request_review_approved', id, pr, {
      mutate: (p) => {
        p.pull_request.head.sha = OPENED_SHA;
        p.pull_request.updated_at = '2025-06-03T08:20:00Z';
      },
    });
    expect(review.status).to.equal('ignored');
    expect(await task(id)).to.include({ state: 'ready_to_test', headSha: SYNC_SHA });
    // The preview's own comment may land meanwhile: count the replies to this review.
    const replies = gitea.comments.slice(before).filter((c) => c.body.includes(`aiworker:delivery=${review.id}:`));
    expect(replies).to.have.length(1);
    expect(replies[0]!.body).to.include(OPENED_SHA.slice(0, 7)).and.to.include(SYNC_SHA.slice(0, 7)).and.to.include('was not approved');
  });

  it('pushes delivered newest first: the task takes the branch head Gitea reports, and the late push rolls back neither head nor approval', async () => {
    const t = await createTask(svc, project.id);
    const branch = `task-${t.id}-add-login`;
    const [a, b, c] = ['a1', 'b2', 'c3'].map((x) => x.repeat(20)) as [string, string, string];
    const push = async (before: string, after: string) => {
      const d = giteaDelivery('push.task-branch', { taskId: t.id, mutate: (p) => Object.assign(p, { before, after }) });
      expect((await svc.deliver(d)).status).to.equal(202);
      return { status: await svc.settled(d.id), id: d.id };
    };
    // The first push is recorded; then the agent pushes twice more (a→b, b→c) and Gitea delivers b→c first.
    expect((await push('0'.repeat(40), a)).status).to.equal('processed');
    gitea.branches.set(branch, c);
    expect((await push(b, c)).status).to.equal('processed');
    expect(await task(t.id)).to.include({ headSha: c, state: 'in_progress' });
    await moveTask(svc, t.id, 'approved');

    const late = await push(a, b);
    expect(await task(t.id)).to.include({ headSha: c, state: 'approved' });
    expect(late.status).to.equal('ignored');
    expect((await svc.deliveries.get(late.id))!.last_error).to.include(`${b.slice(0, 7)} is not the head of ${branch}: Gitea says ${c.slice(0, 7)}`);
    // The branch's creation, delivered last of all, is as late.
    const created = giteaDelivery('create.task-branch', { taskId: t.id, mutate: (p) => (p.sha = a) });
    expect((await svc.deliver(created)).status).to.equal(202);
    expect(await svc.settled(created.id)).to.equal('ignored');
    expect(await task(t.id)).to.include({ headSha: c, state: 'approved' });
    const moves = (await svc.api('GET', `/api/tasks/${t.id}/events`)).body.events.filter((e: any) => e.type === 'task:status_changed').map((e: any) => `${e.from}>${e.to}`);
    expect(moves).to.deep.equal(['backlog>in_progress', 'in_progress>approved']);
  });

  it('/approve names the head Gitea reports for the PR now, not the one its comment delivery carried', async () => {
    const { id, pr } = await taskWithPull(SYNC_SHA);
    await send('pull_request.synchronized', id, pr);
    await eventually(async () => (await task(id)).state === 'ready_to_test', 30_000, 'ready_to_test');
    // New commits land in Gitea; their deliveries have not arrived. The comment's delivery still carries SYNC_SHA.
    const moved = 'e5'.repeat(20);
    setPull(pr, id, moved);
    gitea.setPermission('bob', 'write');
    const before = gitea.comments.length;
    expect(loadGiteaFixture('issue_comment.pr').payload.pull_request.head.sha).to.equal(SYNC_SHA);
    const approval = await send('issue_comment.pr', id, pr, { mutate: (p) => (p.comment.body = '/approve') });
    expect(approval.status).to.equal('processed');

    const after = await task(id);
    expect(after).to.include({ state: 'approved', headSha: moved });
    const replies = gitea.comments.slice(before).filter((c) => c.body.includes(`aiworker:delivery=${approval.id}:`));
    expect(replies).to.have.length(1);
    expect(replies[0]!.body).to.include(`approved by @bob at \`${moved.slice(0, 7)}\`, the head of #${pr}`);
    // The approved head gets its preview; the task stays approved when it is up.
    const rows = await eventually(async () => {
      const done = (await deploysOf(id)).filter((r: any) => r.commit_sha === moved && r.status === 'succeeded');
      return done.length ? done : null;
    }, 30_000, 'the preview of the approved head');
    expect(rows).to.have.length(1);
    expect((await task(id)).state).to.equal('approved');
  });

  it('changes requested while the first preview rolls out: the finished preview does not make the task ready to test', async () => {
    const { id, pr } = await taskWithPull(OPENED_SHA);
    await moveTask(svc, id, 'in_progress');
    kube.hold();
    await send('pull_request.opened', id, pr);
    await eventually(async () => kube.applies().some((r) => r.path.includes(`preview-task-${id}`)), 30_000, 'the rollout to start');
    const review = await send('pull_request_review_rejected', id, pr);
    expect(review.status).to.equal('processed');
    kube.release();
    const [deployed] = await settledDeploys(id, 1);
    expect(deployed).to.include({ status: 'succeeded', commit_sha: OPENED_SHA });
    const after = await task(id);
    expect(after).to.include({ state: 'in_progress', previewUrl: `https://task-${id}.preview.example.com` });
    expect(after.feedback.map((f) => [f.kind, f.headSha])).to.deep.equal([['changes_requested', OPENED_SHA]]);
    const moves = (await svc.api('GET', `/api/tasks/${id}/events`)).body.events.map((e: any) => e.to);
    expect(moves).not.to.include('ready_to_test');
  });
});
