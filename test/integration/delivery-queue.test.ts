import { expect } from 'chai';
import { WEBHOOK_JOB_ATTEMPTS } from '../../src/webhooks/delivery-queue.js';
import { queueOnRedis } from '../support/delivery-queue.js';

/** Stored job fields that differ between any two jobs, whoever adds them. */
const PER_JOB = ['timestamp', 'data'];

describe('delivery queue', () => {
  const q = queueOnRedis();
  const { prefix, redis, queues, queue, markedReceived } = q;
  after(() => q.close());

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
    const down = q.unreachable();
    try {
      expect(await down.queue.enqueueMany(['d-4', 'd-5'])).to.equal(false);
      expect(markedReceived).to.deep.equal([['d-4', 'd-5']]);
    } finally {
      await down.close();
    }
  });
});
