import { expect } from 'chai';
import { DELIVERY_PRUNING, scheduleDeliveryPruning } from '../../../jobs/delivery-pruning.js';
import { giteaDelivery } from '../../support/gitea-delivery.js';
import { createProject, eventually, startTestService, type TestService } from '../../support/service.js';

describe('delivery-pruning: old webhook deliveries pruned (jobs/delivery-pruning.ts)', function () {
  this.timeout(60_000);
  let svc: TestService;

  before(async () => {
    svc = await startTestService({ DELIVERY_RETENTION_DAYS: '30' });
    await createProject(svc);
  });
  after(async () => svc?.cleanup());

  const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000);
  const run = async (jobId: string) => {
    const job = await svc.queues.add('cleanup', DELIVERY_PRUNING, {}, { jobId });
    return eventually(async () => (await svc.queues.get('cleanup').getJob(job.id!))?.returnvalue, 10_000, 'the pruning job');
  };

  it('deletes deliveries that ended before DELIVERY_RETENTION_DAYS, with their command replies, and nothing else', async () => {
    const issue = (n: number) => giteaDelivery('issues.labeled', { mutate: (p) => (p.issue.number = n) });
    const [oldProcessed, oldFailed, oldPending, recent] = [issue(1), issue(2), issue(3), issue(4)];
    for (const d of [oldProcessed, oldFailed, oldPending, recent]) {
      expect((await svc.deliver(d)).status).to.equal(202);
      expect(await svc.settled(d.id)).to.equal('processed');
    }
    const rows = svc.db('webhook_deliveries');
    await rows.clone().where({ delivery_id: oldProcessed.id }).update({ processed_at: daysAgo(31) });
    await rows.clone().where({ delivery_id: oldFailed.id }).update({ status: 'failed', processed_at: daysAgo(40) });
    // Ended long ago, but replayed since: pending again, so it stays.
    await rows.clone().where({ delivery_id: oldPending.id }).update({ status: 'received', processed_at: null, received_at: daysAgo(60) });
    await rows.clone().where({ delivery_id: recent.id }).update({ processed_at: daysAgo(29) });
    // Position 99: the handlers recorded their own replies (the task's creation) at the first positions.
    await svc.db('command_replies').insert([
      { delivery_id: oldProcessed.id, position: 99, body: 'old reply' },
      { delivery_id: recent.id, position: 99, body: 'recent reply' },
    ]);

    const result = await run('prune-test-1');
    expect(result.deleted).to.equal(2);
    const left = (await svc.db('webhook_deliveries').select('delivery_id')).map((r: { delivery_id: string }) => r.delivery_id);
    expect(left).to.include.members([oldPending.id, recent.id]);
    expect(left).to.not.include.members([oldProcessed.id]);
    expect(left).to.not.include(oldFailed.id);
    const replies = (await svc.db('command_replies').distinct('delivery_id')).map((r: { delivery_id: string }) => r.delivery_id);
    expect(replies).to.include(recent.id);
    expect(replies).to.not.include.members([oldProcessed.id]);
    expect(replies).to.not.include(oldFailed.id);
    expect(await svc.db('command_replies').where({ delivery_id: recent.id, position: 99 }).first()).to.include({ body: 'recent reply' });

    // Run again: nothing more to delete.
    expect((await run('prune-test-2')).deleted).to.equal(0);
  });

  it('is scheduled once however many workers schedule it', async () => {
    await scheduleDeliveryPruning(svc.queues);
    await scheduleDeliveryPruning(svc.queues);
    const schedulers = await svc.queues.get('cleanup').getJobSchedulers();
    expect(schedulers.filter((s) => s.key === DELIVERY_PRUNING)).to.have.length(1);
    expect(schedulers.find((s) => s.key === DELIVERY_PRUNING)).to.include({ name: DELIVERY_PRUNING, every: 3_600_000 });
  });

  it('refuses a retention that is not a whole number of days from 1', async () => {
    const { loadConfig } = await import('../../../src/config.js');
    expect(() => loadConfig({ DELIVERY_RETENTION_DAYS: '0' })).to.throw(/DELIVERY_RETENTION_DAYS/);
    expect(loadConfig({}).deliveryRetentionDays).to.equal(30);
  });
});
