import type { Queues } from '../queue/queues.js';
import type { Logger } from '../log.js';
import type { DeliveryStore } from './deliveries.js';

export const WEBHOOK_JOB_ATTEMPTS = 5;

const MARK_BATCH_MS = 20;

/** Puts a stored delivery on the `webhooks` queue; the delivery id is the job id, so a repeat is a no-op. */
export class DeliveryQueue {
  private pendingMarks: string[] = [];
  private markTimer: NodeJS.Timeout | null = null;
  private marking: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: { queues: Queues; deliveries: DeliveryStore; log: Logger },
  ) {}

  /**
   * received -> queued is bookkeeping, off the answer's path and batched: if it is lost, the
   * delivery merely looks `received` and recovery finds its job already queued.
   */
  private markQueued(deliveryId: string): void {
    this.pendingMarks.push(deliveryId);
    this.markTimer ??= setTimeout(() => void this.flush(), MARK_BATCH_MS);
  }

  async flush(): Promise<void> {
    if (this.markTimer) clearTimeout(this.markTimer);
    this.markTimer = null;
    const ids = this.pendingMarks;
    this.pendingMarks = [];
    this.marking = this.marking
      .then(() => this.deps.deliveries.markQueued(ids))
      .catch((err) => this.deps.log.warn({ err: (err as Error).message, count: ids.length }, 'could not mark deliveries queued'));
    await this.marking;
  }

  /** True when queued; false when Redis is unreachable (the delivery stays `received` for recovery). */
  async enqueue(deliveryId: string): Promise<boolean> {
    try {
      await this.deps.queues.add(
        'webhooks',
        'delivery',
        { deliveryId },
        {
          jobId: deliveryId,
          attempts: WEBHOOK_JOB_ATTEMPTS,
          backoff: { type: 'exponential', delay: 1000 },
          removeOnComplete: { age: 3600, count: 10000 },
          removeOnFail: { age: 24 * 3600 },
        },
      );
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message, deliveryId }, 'delivery stored but not queued; recovery will queue it');
      return false;
    }
    this.markQueued(deliveryId);
    return true;
  }
}

/** Queues a delivery again even if an earlier job for it is still kept as completed or failed. */
export async function requeueDelivery(queues: Queues, queue: DeliveryQueue, deliveryId: string): Promise<boolean> {
  const job = await queues.get('webhooks').getJob(deliveryId);
  if (job) {
    const state = await job.getState();
    if (state === 'active' || state === 'waiting' || state === 'delayed' || state === 'prioritized') return true;
    await job.remove();
  }
  return queue.enqueue(deliveryId);
}
