import { expect } from 'chai';
import type { Job } from 'bullmq';
import { giteaDelivery } from '../support/gitea-delivery.js';
import { startGiteaServer, type GiteaServer } from '../support/gitea-server.js';
import type { KubeApiServer } from '../support/kube-api-server.js';
import { loopbackStack } from '../support/loopback-stack.js';
import { createProject, createTask, eventually, startTestService, type TestService } from '../support/service.js';

const PR = 7;
/** Head commits of the pull_request.opened and pull_request.synchronized fixtures. */
const OPENED_SHA = 'c9de6274405f2cf52adabba61b36257fff6809af';
const SYNC_SHA = '8eb0c7ac67266e7b78be03e944e58dafbbedc56d';
const JOB_ATTEMPTS = 5;

async function eventsOf(svc: TestService, taskId: number): Promise<Array<{ type: string; to: string | null }>> {
  const res = await svc.api('GET', `/api/tasks/${taskId}/events`);
  expect(res.status).to.equal(200);
  return res.body.events;
}

describe('system: Kubernetes API failing', function () {
  this.timeout(60_000);
  // Backoff 20 ms, doubling: the five attempts take a fraction of a second instead of half a minute.
  const stack = loopbackStack({ jobBackoffMs: 20, gitea: { retries: 1, retryBaseMs: 10 } });
  let kube: KubeApiServer;
  let gitea: GiteaServer;
  let svc: TestService;
  before(() => ({ kube, gitea, svc } = stack));

  it('retries a preview deploy, then fails it clearly — status, comment, task kept where it was — and deploys once the API is back', async () => {
    const project = await createProject(svc, { previewImage: 'registry.example.com/acme/webapp' });
    const task = await createTask(svc, project.id);
    kube.failWith = 503;

    gitea.openPull(PR, OPENED_SHA, `task-${task.id}-add-login`);
    const opened = giteaDelivery('pull_request.opened', { taskId: task.id, prNumber: PR });
    expect((await svc.deliver(opened)).status).to.equal(202);
    expect(await svc.settled(opened.id)).to.equal('processed');

    // Every attempt was made, then the job stopped: failed, not waiting for another try.
    const deploys = async () =>
      ((await svc.queues.get('deploy').getJobs(['failed', 'completed', 'active', 'waiting', 'delayed'])) as Job[]).filter(
        (j) => j.name === 'preview-deploy' && j.data.taskId === task.id,
      );
    const job = await eventually(async () => {
      const jobs = await deploys();
      return jobs.length === 1 && jobs[0]!.finishedOn ? jobs[0]! : null;
    }, 30_000, 'the preview deploy job to finish');
    expect(await job.getState()).to.equal('failed');
    expect(job.attemptsMade).to.equal(JOB_ATTEMPTS);
    expect(kube.requests.filter((r) => r.status === 503).length).to.be.at.least(JOB_ATTEMPTS);
    const deployments = (await svc.api('GET', `/api/deployments?taskId=${task.id}`)).body.deployments;
    expect(deployments.map((d: any) => d.status)).to.deep.equal(['failed']);
    expect(deployments[0].error).to.match(/503/);

    // The task stays in in_progress (where the PR left it), with no preview claimed.
    const after = await svc.api('GET', `/api/tasks/${task.id}`);
    expect(after.body.state).to.equal('in_progress');
    expect(after.body.previewUrl).to.equal(null);
    const events = await eventsOf(svc, task.id);
    expect(events.filter((e) => e.type === 'deploy:started')).to.have.length(1);
    expect(events.filter((e) => e.type === 'deploy:completed')).to.have.length(1);
    expect(events.some((e) => e.to === 'ready_to_test')).to.equal(false);

    // One failure status on the head and one comment saying why, not one per attempt.
    const statuses = gitea.statuses.filter((s) => s.sha === OPENED_SHA).map((s) => s.state);
    expect(statuses).to.deep.equal(['pending', 'failure']);
    const comments = gitea.comments.filter((c) => c.index === PR);
    expect(comments).to.have.length(1);
    expect(comments[0]!.body).to.match(/failed: .*503/);
    expect(comments[0]!.body).to.include('/retry');

    // Not stuck: once Kubernetes answers, the next push deploys, and the same comment is edited.
    kube.failWith = null;
    gitea.openPull(PR, SYNC_SHA, `task-${task.id}-add-login`);
    const pushed = giteaDelivery('pull_request.synchronized', { taskId: task.id, prNumber: PR });
    expect((await svc.deliver(pushed)).status).to.equal(202);
    await eventually(async () => (await svc.api('GET', `/api/tasks/${task.id}`)).body.state === 'ready_to_test', 20_000, 'ready_to_test after recovery');
    // The task moves first; the status and the comment follow it.
    const synced = () => gitea.statuses.filter((s) => s.sha === SYNC_SHA).map((s) => s.state);
    await eventually(async () => synced().length === 2, 10_000, 'the preview status of the new head');
    expect(synced()).to.deep.equal(['pending', 'success']);
    expect(gitea.comments.filter((c) => c.index === PR)).to.have.length(1);
    expect(gitea.edits.map((e) => e.id)).to.deep.equal([comments[0]!.id]);
  });
});

describe('system: Gitea API failing during a command', function () {
  // Five attempts of the delivery job, 1 s backoff doubling: about 15 s of waiting by design.
  this.timeout(90_000);
  let gitea: GiteaServer;
  let svc: TestService;

  before(async () => {
    gitea = await startGiteaServer();
    svc = await startTestService(gitea.env(), { gitea: { retries: 1, retryBaseMs: 10 } });
  });
  after(async () => {
    await svc?.cleanup();
    await gitea?.close();
  });

  it('fails the delivery naming Gitea after its attempts, and a replay once Gitea is back converges: one approval, one reply', async () => {
    const project = await createProject(svc);
    const task = await createTask(svc, project.id);
    const opened = giteaDelivery('pull_request.opened', { taskId: task.id, prNumber: PR });
    await svc.deliver(opened);
    expect(await svc.settled(opened.id)).to.equal('processed');
    // What /approve reads: the PR's head as Gitea reports it.
    gitea.openPull(PR, opened.payload.pull_request.head.sha, `task-${task.id}-add-login`);
    gitea.setPermission('bob', 'write');

    gitea.failComments = 500;
    const approve = giteaDelivery('issue_comment.pr', {
      taskId: task.id,
      prNumber: PR,
      mutate: (p) => {
        p.comment.body = '/approve';
      },
    });
    expect((await svc.deliver(approve)).status).to.equal(202);
    expect(await svc.settled(approve.id, 60_000)).to.equal('failed');
    const failed = (await svc.api('GET', '/api/webhooks/deliveries?status=failed')).body.deliveries.find((d: any) => d.id === approve.id);
    expect(failed.attempts).to.equal(JOB_ATTEMPTS);
    expect(failed.lastError).to.match(/^Gitea POST \/repos\/acme\/webapp\/issues\/7\/comments failed: 500/);
    expect(gitea.comments).to.deep.equal([]);
    // The approval itself was made once; the later attempts found it done.
    expect((await svc.api('GET', `/api/tasks/${task.id}`)).body.state).to.equal('approved');
    const approvals = () => eventsOf(svc, task.id).then((es) => es.filter((e) => e.to === 'approved').length);
    expect(await approvals()).to.equal(1);

    gitea.failComments = null;
    expect((await svc.api('POST', `/api/webhooks/deliveries/${approve.id}/replay`)).status).to.equal(202);
    expect(await svc.settled(approve.id)).to.equal('processed');
    expect(gitea.comments.map((c) => c.index)).to.deep.equal([PR]);
    expect(gitea.comments[0]!.body).to.include(`Task ${task.id} approved by @bob`);
    expect(await approvals()).to.equal(1);
    expect((await svc.api('GET', `/api/tasks/${task.id}`)).body.state).to.equal('approved');
  });

  it('retries a comment whose second reply failed without running its commands or posting its replies twice', async () => {
    const project = await createProject(svc, { repo: 'acme/second' });
    const task = await createTask(svc, project.id);
    const opened = giteaDelivery('pull_request.opened', { taskId: task.id, prNumber: PR, mutate: (p) => (p.repository.full_name = 'acme/second') });
    await svc.deliver(opened);
    expect(await svc.settled(opened.id)).to.equal('processed');
    gitea.openPull(PR, opened.payload.pull_request.head.sha, `task-${task.id}-add-login`, 'acme/second');
    gitea.setPermission('bob', 'write');
    const before = gitea.comments.length;

    // The first reply goes through; the second fails once. The client does not repeat a comment
    // Gitea may have created, so the delivery's first attempt fails, and its second finds Gitea answering again.
    gitea.scriptComments(1, 1);
    const comment = giteaDelivery('issue_comment.pr', {
      taskId: task.id,
      prNumber: PR,
      mutate: (p) => {
        p.repository.full_name = 'acme/second';
        p.comment.body = '/approve\n/help';
      },
    });
    expect((await svc.deliver(comment)).status).to.equal(202);
    expect(await svc.settled(comment.id, 30_000)).to.equal('processed');
    const replies = gitea.comments.slice(before).map((c) => c.body);
    expect(replies).to.have.length(2);
    expect(replies[0]).to.include(`Task ${task.id} approved by @bob`);
    expect(replies[1]).to.include('aiworker understands these commands');
    const delivery = (await svc.api('GET', '/api/webhooks/deliveries?status=processed')).body.deliveries.find((d: any) => d.id === comment.id);
    expect(delivery.attempts).to.equal(2);
    expect((await eventsOf(svc, task.id)).filter((e) => e.to === 'approved')).to.have.length(1);

    // A replay converges: nothing runs or is posted again.
    expect((await svc.api('POST', `/api/webhooks/deliveries/${comment.id}/replay`)).status).to.equal(202);
    expect(await svc.settled(comment.id)).to.equal('processed');
    expect(gitea.comments.slice(before)).to.have.length(2);
  });
});
