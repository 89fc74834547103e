import type { JobsOptions } from 'bullmq';
import { Coalescer } from '../coalescer.js';
import { withTimeout } from '../timeout.js';
import type { Queues } from '../queue/queues.js';
import type { Logger } from '../log.js';
import type { DeliveryStore } from './deliveries.js';

export const WEBHOOK_JOB_ATTEMPTS = 5;

const ADD_TIMEOUT_MS = 2000;

const JOB_OPTIONS: JobsOptions = {
  attempts: WEBHOOK_JOB_ATTEMPTS,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 3600, count: 10000 },
  removeOnFail: { age: 24 * 3600 },
};

/**
 * Puts a stored delivery on the `webhooks` queue; the delivery id is the job id, so a repeat is a
 * no-op. New deliveries are stored as `queued` (no second write on the hot path) and set back to
 * `received` only when Redis refuses them; a process dying in between leaves a `queued` row with
 * no job, which recovery finds and queues.
 */
export class DeliveryQueue {
  /** Deliveries arriving together are added in one round trip (BullMQ's addBulk). */
  private readonly adds: Coalescer<string, boolean>;

  constructor(deps: { queues: Queues; deliveries: DeliveryStore; log: Logger }) {
    this.adds = new Coalescer(async (ids) => {
      try {
        await withTimeout(
          deps.queues.get('webhooks').addBulk(ids.map((id) => ({ name: 'delivery', data: { deliveryId: id }, opts: { ...JOB_OPTIONS, jobId: id } }))),
          ADD_TIMEOUT_MS,
          'queue webhooks (Redis)',
        );
        return ids.map(() => true);
      } catch (err) {
        deps.log.warn({ err: (err as Error).message, count: ids.length }, 'deliveries stored but not queued; recovery will queue them');
        await deps.deliveries.markReceived(ids).catch(() => undefined);
        return ids.map(() => false);
      }
    }, { maxInFlight: 2, maxBatch: 100 });
  }

  /** True when queued; false when Redis is unreachable (the delivery is `received`, for recovery). */
  enqueue(deliveryId: string): Promise<boolean> {
    return this.adds.submit(deliveryId);
  }
}

/** Queues a delivery again even if an earlier job for it is still kept as completed or failed. */
export async function requeueDelivery(
  queues: Queues,
  queue: DeliveryQueue,
  deliveries: DeliveryStore,
  deliveryId: string,
): Promise<'queued' | 'already queued' | 'not queued'> {
  const job = await queues.get('webhooks').getJob(deliveryId);
  if (job) {
    const state = await job.getState();
    if (state === 'active' || state === 'waiting' || state === 'delayed' || state === 'prioritized') {
      // Its job is still there (a long backlog): look again only after another full wait.
      await deliveries.markQueued([deliveryId]);
      return 'already queued';
    }
    await job.remove();
  }
  if (!(await queue.enqueue(deliveryId))) return 'not queued';
  await deliveries.markQueued([deliveryId]);
  return 'queued';
}
