import { UnrecoverableError } from 'bullmq';
import { acquireLock, jobOwner, lockKeys, waitTurn, type HeldLock } from '../src/queue/lock.js';
import { FINISHED_STATUSES, type DeliveryEnd, type DeliveryRow, type DeliveryStatus } from '../src/webhooks/deliveries.js';
import { handleDelivery, type DeliveryDeps } from './lib/delivery-handling.js';
import type { JobDefinition } from './types.js';

/**
 * How long one job handles a key's deliveries before handing the key on: long enough that handing
 * on costs nothing measurable, short enough that a worker shutting down finishes within its grace.
 */
const DRAIN_SLICE_MS = 1000;
/**
 * Pending deliveries of a key read per query, payloads included: a round trip per batch instead of
 * per delivery, and a bounded amount of payload in memory (at most this many webhook bodies).
 */
const BATCH = 20;

const ended = (status: DeliveryStatus) => (FINISHED_STATUSES as readonly string[]).includes(status);

/** Why a drain stopped: nothing pending, its slice is used up (or its hold lost), or the oldest delivery waits for a retry. */
type Drained = { next: 'nothing' } | { next: 'continue' } | { next: 'retry'; at: number };

/**
 * Handles a key's pending deliveries oldest first while holding the key. Each costs its own reads
 * and writes only: nothing here grows with the number of deliveries waiting. How they ended is
 * written a batch at a time, one commit for many; a drain cut short before writing them (its
 * worker died) leaves them pending, and the next holder runs them again, oldest first: handlers
 * are idempotent, so they converge, in order.
 */
async function drainKey(deps: DeliveryDeps, orderingKey: string, lock: HeldLock, own: DeliveryRow): Promise<Drained> {
  const until = Date.now() + DRAIN_SLICE_MS;
  const ends: DeliveryEnd[] = [];
  const record = async (end: DeliveryEnd) => void ends.push(end);
  let after = 0;
  try {
    for (;;) {
      await deps.deliveries.finishMany(ends.splice(0));
      const seqs = await deps.deliveries.pendingOfKey(orderingKey, after, BATCH);
      if (!seqs.length) return { next: 'nothing' };
      after = seqs.at(-1)!;
      // Only the key's holder ends its deliveries, so what is read here stays true while it holds
      // the key; the job's own delivery, read just before it took the key, is the usual lone one.
      const rows = seqs.length === 1 && seqs[0] === Number(own.seq) ? [own] : await deps.deliveries.getBySeqs(seqs);
      for (const d of rows) {
        if (lock.lost || Date.now() > until) return { next: 'continue' };
        if (ended(d.status)) continue;
        // A delivery's later ones wait while it does: order before throughput.
        if (d.retry_at && d.retry_at.getTime() > Date.now()) return { next: 'retry', at: d.retry_at.getTime() };
        const handled = await handleDelivery(deps, d, record);
        if (!handled.ended) return { next: 'retry', at: handled.retryAt.getTime() };
      }
      // A short batch was the last: whether more came meanwhile is asked once the key is let go.
      if (seqs.length < BATCH) return { next: 'nothing' };
    }
  } finally {
    // Before the key is let go: the next holder starts after the last delivery that ended.
    await deps.deliveries.finishMany(ends);
  }
}

/**
 * The job of one delivery. Deliveries with an ordering key (a task, PR, issue or branch) are
 * handled per key: the job that takes the key's lock handles the key's pending deliveries in
 * stored order, its own among them, and a job that finds the key taken leaves its delivery to
 * the holder. After letting go, the holder looks again and runs once more if anything is pending,
 * so a delivery whose job found the key taken is never left behind; a holder that dies keeps its
 * job, which BullMQ runs again once the worker's hold on it lapses.
 */
export const webhookDelivery: JobDefinition<{ deliveryId: string }> = {
  queue: 'webhooks',
  name: 'delivery',
  async process(job, deps: DeliveryDeps, token) {
    const { deliveryId } = job.data;
    const d = await deps.deliveries.get(deliveryId);
    if (!d) throw new UnrecoverableError(`delivery ${deliveryId} is not stored`);
    if (ended(d.status)) return { status: d.status, skipped: true };
    const retryIn = (at: number) => waitTurn(job, token, Math.max(0, at - Date.now()));

    const orderingKey = d.ordering_key;
    if (!orderingKey) {
      if (d.retry_at && d.retry_at.getTime() > Date.now()) throw await retryIn(d.retry_at.getTime());
      const handled = await handleDelivery(deps, d, (end) => deps.deliveries.finishMany([end]));
      if (!handled.ended) throw await retryIn(handled.retryAt.getTime());
      return { status: 'handled' };
    }

    const lock = await acquireLock(deps.redis, lockKeys.ordering(deps.redisPrefix, orderingKey), jobOwner(job));
    if (!lock) return { status: 'left to the key holder', orderingKey };
    let drained: Drained;
    try {
      drained = await drainKey(deps, orderingKey, lock, d);
    } finally {
      await lock.release();
    }
    if (drained.next === 'retry') throw await retryIn(drained.at);
    // Stored after the last look, with a job that found the key taken: this job's to hand on.
    if (drained.next === 'continue' || (await deps.deliveries.pendingOfKey(orderingKey, 0, 1)).length) throw await retryIn(0);
    return { status: 'drained', orderingKey };
  },
};
