import { expect } from 'chai';
import type { Job } from 'bullmq';
import { webhookRelay } from '../../../jobs/webhook-relay.js';
import type { JobDeps } from '../../../jobs/types.js';
import { RELAY_JOB, type RelayedDelivery } from '../../../src/webhooks/delivery-queue.js';
import { queueOnRedis } from '../../support/delivery-queue.js';

/** Ingest's second stage: one relay job per batch from the web process, the delivery jobs from a worker. */
describe('webhook relay job', () => {
  const q = queueOnRedis();
  const { queues, queue, markedReceived } = q;
  after(() => q.close());

  it('hands deliveries stored together to one relay job, which a worker turns into a job per delivery', async () => {
    const keyOf = (id: string) => (id === 'r-3' ? null : `acme/webapp|issue:${id}`);
    expect(await Promise.all(['r-1', 'r-2', 'r-3'].map((id) => queue.relay({ id, orderingKey: keyOf(id) })))).to.deep.equal([true, true, true]);
    const webhooks = queues.get('webhooks');
    const waiting = (await webhooks.getJobs(['waiting'])).filter((j) => j.name === RELAY_JOB);
    // The first went alone (nothing was in flight); the two that came meanwhile share the next job.
    const byFirst = (a: Job, b: Job) => String(a.data.deliveries[0].id).localeCompare(String(b.data.deliveries[0].id));
    expect([...waiting].sort(byFirst).map((j) => [j.name, j.data])).to.deep.equal([
      [RELAY_JOB, { deliveries: [{ id: 'r-1', orderingKey: keyOf('r-1') }] }],
      [RELAY_JOB, { deliveries: [{ id: 'r-2', orderingKey: keyOf('r-2') }, { id: 'r-3', orderingKey: null }] }],
    ]);
    expect(await webhooks.getJob('r-1'), 'no delivery job before a worker relays').to.equal(undefined);

    const deps = { deliveryQueue: queue } as Pick<JobDeps, 'deliveryQueue'> as JobDeps;
    type Relay = Job<{ deliveries: RelayedDelivery[] }>;
    for (const job of waiting) expect(await webhookRelay.process(job as Relay, deps)).to.include({ queued: true });
    // Each delivery's job carries its key, when it has one.
    for (const id of ['r-1', 'r-2']) expect((await webhooks.getJob(id))?.data).to.deep.equal({ deliveryId: id, orderingKey: keyOf(id) });
    expect((await webhooks.getJob('r-3'))?.data).to.deep.equal({ deliveryId: 'r-3' });
    // A relay run again (its worker died after queueing) adds nothing: the delivery id is the job id.
    expect(await webhookRelay.process(waiting[0] as Relay, deps)).to.include({ queued: true });
    const relayed = (await webhooks.getJobs(['waiting'])).filter((j) => j.name !== RELAY_JOB && String(j.id).startsWith('r-'));
    expect(relayed.map((j) => j.id).sort()).to.deep.equal(['r-1', 'r-2', 'r-3']);
  });

  it('answers false and marks the deliveries received when Redis cannot take the relay job', async () => {
    const down = q.unreachable();
    try {
      expect(await down.queue.relay({ id: 'r-9', orderingKey: null })).to.equal(false);
      expect(markedReceived).to.deep.equal([['r-9']]);
    } finally {
      await down.close();
    }
  });
});
