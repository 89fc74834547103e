import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Queues } from '../queue/queues.js';
import type { DeliveryStore } from './deliveries.js';
import type { JobOutbox } from '../queue/outbox.js';
import { requeueDelivery, type DeliveryQueue } from './delivery-queue.js';
import { addRecorded } from '../queue/scheduler.js';

export interface RecoveryOptions {
  intervalMs: number;
  /** How long a delivery may stay pending in MySQL before it is queued again. */
  staleAfterMs: number;
  batch: number;
}

/**
 * MySQL is the truth, Redis may forget: deliveries and outbox jobs (deploys, syncs, merges) still
 * pending after staleAfterMs are queued again. They keep their job ids, so one whose job still
 * exists is never doubled.
 */
export class PendingWorkRecovery {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  constructor(
    private readonly deps: { deliveries: DeliveryStore; outbox: JobOutbox; queues: Queues; queue: DeliveryQueue; log: Logger; metrics: Metrics },
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
    return (await this.deliveriesPass()) + (await this.outboxPass());
  }

  private async outboxPass(): Promise<number> {
    const pending = await this.deps.outbox.pending(this.opts.staleAfterMs, this.opts.batch);
    let requeued = 0;
    for (const entry of pending) {
      try {
        const queue = this.deps.queues.get(entry.queue);
        const job = await queue.getJob(entry.jobId);
        const state = job ? await job.getState() : 'missing';
        if (state === 'completed' || state === 'failed') {
          await this.deps.outbox.done(entry.jobId);
        } else if (state === 'missing' || state === 'unknown') {
          // A delay of the first add is moot now: run it. Its deduplication stays: a preview deploy
          // kept to follow a deploy still running is kept again, not run beside it.
          const { delay: _delay, ...opts } = entry.opts;
          if ((await addRecorded(this.deps.queues, this.deps.outbox, { ...entry, opts })).added) requeued++;
        }
      } catch (err) {
        this.deps.log.debug({ err: (err as Error).message, jobId: entry.jobId }, 'requeue failed; Redis still away?');
        break;
      }
    }
    if (requeued) {
      this.deps.metrics.requeued.inc({ kind: 'job' }, requeued);
      this.deps.log.info({ requeued }, 'pending jobs queued again');
    }
    return requeued;
  }

  private async deliveriesPass(): Promise<number> {
    const pending = await this.deps.deliveries.pending(this.opts.staleAfterMs, this.opts.batch);
    let requeued = 0;
    // The job of a key's oldest pending delivery handles the key's others: one per key is enough,
    // and the others are looked at again only after another full wait.
    const keys = new Set<string>();
    const covered: string[] = [];
    let redisAway = false;
    for (const d of pending) {
      if (d.ordering_key !== null) {
        if (keys.has(d.ordering_key)) {
          covered.push(d.delivery_id);
          continue;
        }
        keys.add(d.ordering_key);
      }
      try {
        const outcome = await requeueDelivery(this.deps.queues, this.deps.queue, this.deps.deliveries, d.delivery_id);
        if (outcome === 'not queued') {
          redisAway = true;
          break;
        }
        if (outcome === 'queued') requeued++;
      } catch (err) {
        this.deps.log.debug({ err: (err as Error).message, deliveryId: d.delivery_id }, 'requeue failed; Redis still away?');
        redisAway = true;
        break;
      }
    }
    // Only while their key's oldest delivery is queued do the others wait another full round.
    if (!redisAway) await this.deps.deliveries.markQueued(covered);
    if (requeued) {
      this.deps.metrics.requeued.inc({ kind: 'delivery' }, requeued);
      this.deps.log.info({ requeued }, 'pending deliveries queued again');
    }
    return requeued;
  }
}
