import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { Job } from 'bullmq';
import { webhookRelay } from '../../jobs/webhook-relay.js';
import type { JobDeps } from '../../jobs/types.js';
import { createLogger } from '../../src/log.js';
import { Queues } from '../../src/queue/queues.js';
import { DeliveryQueue, RELAY_JOB, type RelayedDelivery } from '../../src/webhooks/delivery-queue.js';
import type { DeliveryStore } from '../../src/webhooks/deliveries.js';
import { REDIS_URL, uniqueName } from '../support/service.js';

/** Ingest's second stage: one relay job per batch from the web process, the delivery jobs from a worker. */
describe('webhook relay', () => {
  const prefix = `aiwtest_${uniqueName()}`;
  const redis = new Redis(REDIS_URL);
  const queues = new Queues({ redisUrl: REDIS_URL, prefix });
  const markedReceived: string[][] = [];
  const store = { markReceived: async (ids: string[]) => void markedReceived.push(ids) } as unknown as DeliveryStore;
  const queue = new DeliveryQueue({ queues, deliveries: store, log: createLogger('silent') });

  after(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    await queues.close();
    redis.disconnect();
  });

  it('hands deliveries stored together to one relay job, which a worker turns into a job per delivery', async () => {
    const keyOf = (id: string) => (id === 'r-3' ? null : `acme/webapp|issue:${id}`);
    expect(await Promise.all(['r-1', 'r-2', 'r-3'].map((id) => queue.relay({ id, orderingKey: keyOf(id) })))).to.deep.equal([true, true, true]);
    const webhooks = queues.get('webhooks');
    const waiting = await webhooks.getJobs(['waiting']);
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
    expect(await webhooks.getJobCountByTypes('waiting')).to.equal(5);
  });

  it('answers false and marks the deliveries received when Redis cannot take the relay job', async () => {
    const down = new Queues({ redisUrl: 'redis://127.0.0.1:1', prefix });
    try {
      const refused = new DeliveryQueue({ queues: down, deliveries: store, log: createLogger('silent') });
      expect(await refused.relay({ id: 'r-9', orderingKey: null })).to.equal(false);
      expect(markedReceived).to.deep.equal([['r-9']]);
    } finally {
      await down.close();
    }
  });
});
