import { expect } from 'chai';
import { createTask, moveTask } from '../../support/service.js';
import { giteaDelivery, type DeliveryOptions } from '../../support/gitea-delivery.js';
import { handlerService } from '../../support/handler-service.js';

describe('push (handlers/push.ts)', function () {
  const h = handlerService();

  it('a push after approval makes the approval stale; the same head again changes nothing', async () => {
    const t = await createTask(h.svc, h.project.id);
    await h.send('push.task-branch', { taskId: t.id });
    await h.setState(t.id, 'approved');
    const head = (await h.task(t.id)).headSha;
    await h.send('push.task-branch', { taskId: t.id, mutate: (p) => (p.after = head) });
    expect((await h.task(t.id)).state).to.equal('approved');
    await h.send('push.task-branch', { taskId: t.id, mutate: (p) => ((p.before = head), (p.after = 'f'.repeat(40))) });
    const after = await h.task(t.id);
    expect(after.state).to.equal('in_progress');
    expect(after.headSha).to.equal('f'.repeat(40));
  });

  it('pushes to other branches are ignored; pushes to staging and main queue their sync', async () => {
    expect((await h.send('push.task-branch', { mutate: (p) => (p.ref = 'refs/heads/feature/x') })).status).to.equal('ignored');
    expect((await h.send('push.task-branch', { taskId: 999999 })).status).to.equal('ignored');
    await h.send('push.staging');
    await h.send('push.main');
    const jobs = await h.deployJobs();
    expect(jobs).to.include('environment-sync:staging');
    expect(jobs).to.include('environment-sync:production');
  });

  it("a push made by aiworker's own merge leaves the sync to that merge, which names its tasks", async () => {
    const after = 'b'.repeat(40);
    const syncOf = async () =>
      (await h.svc.queues.get('deploy').getJobs(['waiting', 'delayed', 'active', 'completed', 'failed'])).filter((j) => j.name === 'environment-sync' && j.data.revision === after);
    const bySelf = (p: any) => {
      p.after = after;
      p.pusher.login = p.sender.login = 'aiworker-bot';
    };
    const delivered = await h.send('push.staging', { mutate: bySelf });
    expect(delivered.status).to.equal('processed');
    expect(await syncOf()).to.have.length(0);
    // The same push by a person queues the sync as before.
    await h.send('push.staging', { mutate: (p: any) => (p.after = after) });
    expect(await syncOf()).to.have.length(1);
  });
});

/** Gitea's "Test Delivery" button sends a push of the branch's latest commit with before = after. */
describe("push: Gitea's test delivery (handlers/push.ts)", function () {
  const h = handlerService();

  /** A push fixture whose before equals its after, as the button sends it. */
  const testPush = (extra: DeliveryOptions = {}): DeliveryOptions => ({
    ...extra,
    mutate: (p) => {
      extra.mutate?.(p);
      p.before = p.after;
    },
  });
  async function send(name: string, opts: DeliveryOptions): Promise<{ status: string; note: string | null }> {
    const d = giteaDelivery(name, opts);
    expect((await h.svc.deliver(d)).status).to.equal(202);
    const status = await h.svc.settled(d.id);
    const listed = (await h.svc.api('GET', '/api/webhooks/deliveries?status=ignored&limit=1000')).body.deliveries;
    return { status, note: listed.find((x: any) => x.id === d.id)?.lastError ?? null };
  }
  const syncJobs = async () =>
    (await h.svc.queues.get('deploy').getJobs(['waiting', 'delayed', 'active', 'completed', 'failed'])).filter((j) => j.name === 'environment-sync');
  const deployments = async () => (await h.svc.api('GET', `/api/deployments?projectId=${h.project.id}`)).body;

  for (const [fixture, environment] of [['push.staging', 'staging'], ['push.main', 'production']] as const) {
    it(`to the ${environment} branch is recorded as ignored, says why, and syncs nothing`, async () => {
      const staged = await createTask(h.svc, h.project.id, `Staged before the ${environment} test`);
      await moveTask(h.svc, staged.id, 'in_progress', 'approved', 'staging');
      const { status, note } = await send(fixture, testPush());
      expect(status).to.equal('ignored');
      expect(note).to.match(/Gitea's test delivery/);
      expect(await syncJobs()).to.have.length(0);
      expect((await deployments()).total).to.equal(0);
      expect((await h.svc.api('GET', `/api/tasks/${staged.id}`)).body.state).to.equal('staging');
    });
  }

  it('to a task branch moves nothing', async () => {
    const t = await createTask(h.svc, h.project.id);
    const { status } = await send('push.task-branch', testPush({ taskId: t.id }));
    expect(status).to.equal('ignored');
    const task = (await h.svc.api('GET', `/api/tasks/${t.id}`)).body;
    expect(task.state).to.equal('backlog');
    expect(task.branch).to.equal(null);
  });

  it('a real push to the same branch still syncs (the check is before = after, not the branch)', async () => {
    expect((await send('push.staging', {})).status).to.equal('processed');
    expect((await syncJobs()).map((j) => j.data.environment)).to.deep.equal(['staging']);
  });
});
