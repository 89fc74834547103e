import { UnrecoverableError, type Job } from 'bullmq';
import { acquireLock, jobOwner, lockKeys, waitTurn, type HeldLock } from '../src/queue/lock.js';
import { FINISHED_STATUSES, type DeliveryEnd, type DeliveryRow, type DeliveryStatus } from '../src/webhooks/deliveries.js';
import type { DeliveryJobData } from '../src/webhooks/delivery-queue.js';
import { handleDelivery, type DeliveryDeps } from './lib/delivery-handling.js';
import type { JobDefinition } from './types.js';

/**
 * Pending deliveries of a key read per query, payloads included: a round trip per batch instead of
 * per delivery, and a bounded amount of payload in memory (at most this many webhook bodies).
 */
const BATCH = 20;

const ended = (status: DeliveryStatus) => (FINISHED_STATUSES as readonly string[]).includes(status);

/** Why a drain stopped: nothing pending, its worker is closing (or its hold was lost), or the oldest delivery waits for a retry. */
type Drained = { next: 'nothing' } | { next: 'continue' } | { next: 'retry'; at: number };

/**
 * Handles a key's pending deliveries oldest first while holding the key. Each costs its own reads
 * and writes only: nothing here grows with the number of deliveries waiting. How they ended is
 * written a batch at a time, one commit for many; a drain cut short before writing them (its
 * worker died) leaves them pending, and the next holder runs them again, oldest first: handlers
 * are idempotent, so they converge, in order.
 */
async function drainKey(deps: DeliveryDeps, orderingKey: string, lock: HeldLock, own: DeliveryRow | null, stopping?: AbortSignal): Promise<Drained> {
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
      const rows = own && seqs.length === 1 && seqs[0] === Number(own.seq) ? [own] : await deps.deliveries.getBySeqs(seqs);
      for (const d of rows) {
        if (lock.lost || stopping?.aborted) return { next: 'continue' };
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
 * the holder. The holder drains until nothing of the key is pending, at the rate its handlers
 * allow; after letting go it looks again and drains once more if anything came meanwhile, so a
 * delivery whose job found the key taken is never left behind. A worker closing stops the drain
 * at the next delivery and leaves the job delayed, for the next worker; a holder that dies keeps
 * its job, which BullMQ runs again once the worker's hold on it lapses.
 */
/**
 * Takes the key and drains it, again while more came after each look; or leaves the key to the
 * job that holds it. `own`: the job's own delivery, read before (null when its key was known).
 */
async function holdAndDrain(job: Job, token: string | undefined, deps: DeliveryDeps, orderingKey: string, own: DeliveryRow | null, stopping?: AbortSignal) {
  const key = lockKeys.ordering(deps.redisPrefix, orderingKey);
  for (; ; own = null) {
    const lock = await acquireLock(deps.redis, key, jobOwner(job));
    if (!lock) return { status: 'left to the key holder', orderingKey };
    let drained: Drained;
    try {
      drained = await drainKey(deps, orderingKey, lock, own, stopping);
    } finally {
      await lock.release();
    }
    if (drained.next === 'retry') throw await waitTurn(job, token, Math.max(0, drained.at - Date.now()));
    // Its worker is closing (or the hold lapsed): the job waits in the delayed set for whoever runs next.
    if (drained.next === 'continue') throw await waitTurn(job, token, 0);
    // Stored after the last look, with a job that found the key taken: this job drains again at
    // once (handing on through BullMQ's delayed set could leave it waiting for a worker's poll).
    const more = await deps.deliveries.pendingOfKey(orderingKey, 0, 1);
    if (!more.length) return { status: 'drained', orderingKey };
  }
}

export const webhookDelivery: JobDefinition<DeliveryJobData> = {
  queue: 'webhooks',
  name: 'delivery',
  async process(job, deps: DeliveryDeps, token, stopping) {
    const { deliveryId } = job.data;
    // Named by the relay: most jobs of a busy key find it held and end here, without a query.
    if (job.data.orderingKey) return holdAndDrain(job, token, deps, job.data.orderingKey, null, stopping);
    const d = await deps.deliveries.get(deliveryId);
    if (!d) throw new UnrecoverableError(`delivery ${deliveryId} is not stored`);
    if (ended(d.status)) return { status: d.status, skipped: true };
    if (d.ordering_key) return holdAndDrain(job, token, deps, d.ordering_key, d, stopping);
    const retryIn = (at: number) => waitTurn(job, token, Math.max(0, at - Date.now()));
    if (d.retry_at && d.retry_at.getTime() > Date.now()) throw await retryIn(d.retry_at.getTime());
    const handled = await handleDelivery(deps, d, (end) => deps.deliveries.finishMany([end]));
    if (!handled.ended) throw await retryIn(handled.retryAt.getTime());
    return { status: 'handled' };
  },
};
