import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Queues } from '../queue/queues.js';
import type { DeliveryStore } from './deliveries.js';
import { requeueDelivery, type DeliveryQueue } from './delivery-queue.js';

export interface RecoveryOptions {
  intervalMs: number;
  /** How long a delivery may stay pending in MySQL before it is queued again. */
  staleAfterMs: number;
  batch: number;
}

/**
 * MySQL is the truth, Redis may forget: deliveries still pending after staleAfterMs are queued
 * again. Job ids are delivery ids, so a delivery whose job still exists is never doubled.
 */
export class DeliveryRecovery {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  constructor(
    private readonly deps: { deliveries: DeliveryStore; queues: Queues; queue: DeliveryQueue; log: Logger; metrics: Metrics },
    private readonly opts: RecoveryOptions,
  ) {}

  start(): void {
    const tick = () => {
      this.runOnce()
        .catch((err) => this.deps.log.debug({ err: (err as Error).message }, 'delivery recovery pass failed'))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, this.opts.intervalMs);
        });
    };
    this.timer = setTimeout(tick, this.opts.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  runOnce(): Promise<number> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async pass(): Promise<number> {
    const pending = await this.deps.deliveries.pending(this.opts.staleAfterMs, this.opts.batch);
    let requeued = 0;
    for (const d of pending) {
      try {
        if (await requeueDelivery(this.deps.queues, this.deps.queue, d.delivery_id)) requeued++;
      } catch (err) {
        this.deps.log.debug({ err: (err as Error).message, deliveryId: d.delivery_id }, 'requeue failed; Redis still away?');
        break;
      }
    }
    if (requeued) {
      this.deps.metrics.deliveriesPending.inc(requeued);
      this.deps.log.info({ requeued }, 'pending deliveries queued again');
    }
    return requeued;
  }
}
