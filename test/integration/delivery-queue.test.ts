import { expect } from 'chai';
import { Redis } from 'ioredis';
import { createLogger } from '../../src/log.js';
import { Queues } from '../../src/queue/queues.js';
import type { Job } from 'bullmq';
import { webhookRelay } from '../../jobs/webhook-relay.js';
import type { JobDeps } from '../../jobs/types.js';
import { DeliveryQueue, RELAY_JOB, WEBHOOK_JOB_ATTEMPTS, type RelayedDelivery } from '../../src/webhooks/delivery-queue.js';
import type { DeliveryStore } from '../../src/webhooks/deliveries.js';
import { REDIS_URL, uniqueName } from '../support/service.js';

/** Stored job fields that differ between any two jobs, whoever adds them. */
const PER_JOB = ['timestamp', 'data'];

describe('delivery queue', () => {
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

  it('queues each delivery as the job BullMQ itself would add, under the delivery id', async () => {
    expect(await queue.enqueueMany(['d-1', 'd-2'])).to.equal(true);
    // The reference: the same job added through BullMQ's public Queue.add.
    const webhooks = queues.get('webhooks');
    const reference = await webhooks.add('delivery', { deliveryId: 'ref' }, {
      attempts: WEBHOOK_JOB_ATTEMPTS,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 3600, count: 10000 },
      removeOnFail: { age: 24 * 3600 },
      jobId: 'ref',
    });
    const stored = async (id: string) => redis.hgetall(`${prefix}:bull:webhooks:${id}`);
    const ref = await stored(reference.id!);
    for (const id of ['d-1', 'd-2']) {
      const job = await webhooks.getJob(id);
      expect(job?.data).to.deep.equal({ deliveryId: id });
      expect(job?.opts.jobId).to.equal(id);
      expect(await job?.getState()).to.equal('waiting');
      const fields = await stored(id);
      expect(Object.keys(fields).sort()).to.deep.equal(Object.keys(ref).sort());
      for (const field of Object.keys(ref).filter((f) => !PER_JOB.includes(f) && f !== 'opts')) expect(fields[field], field).to.equal(ref[field]);
      // opts is stored packed: compare what BullMQ reads back, but for the job id each carries.
      const refJob = await webhooks.getJob('ref');
      expect({ ...job!.opts, jobId: '' }).to.deep.equal({ ...refJob!.opts, jobId: '' });
    }
  });

  it('adds a delivery already queued once only', async () => {
    expect(await queue.enqueueMany(['d-3'])).to.equal(true);
    expect(await queue.enqueueMany(['d-3'])).to.equal(true);
    expect(await queue.enqueue('d-3')).to.equal(true);
    expect(await queues.get('webhooks').getJobCountByTypes('waiting')).to.equal(4);
  });

  it('answers false and marks the deliveries received when Redis cannot take them', async () => {
    const down = new Queues({ redisUrl: 'redis://127.0.0.1:1', prefix });
    try {
      const refused = new DeliveryQueue({ queues: down, deliveries: store, log: createLogger('silent') });
      expect(await refused.enqueueMany(['d-4', 'd-5'])).to.equal(false);
      expect(markedReceived).to.deep.equal([['d-4', 'd-5']]);
    } finally {
      await down.close();
    }
  });

  // Ingest's second stage: one relay job per batch from the web process, the delivery jobs from a worker.
  describe('relay', () => {
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
      const down = new Queues({ redisUrl: 'redis://127.0.0.1:1', prefix });
      try {
        const refused = new DeliveryQueue({ queues: down, deliveries: store, log: createLogger('silent') });
        expect(await refused.relay({ id: 'r-9', orderingKey: null })).to.equal(false);
        expect(markedReceived.at(-1)).to.deep.equal(['r-9']);
      } finally {
        await down.close();
      }
    });
  });
});
