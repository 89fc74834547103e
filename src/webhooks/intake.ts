import { Coalescer } from '../coalescer.js';
import type { DeliveryStore, NewDelivery } from './deliveries.js';
import type { DeliveryQueue } from './delivery-queue.js';

/** What became of a delivery: a repeat, queued, stored for later queueing (Redis away), or ignored. */
export type IntakeOutcome = 'duplicate' | 'queued' | 'received' | 'ignored';

/**
 * Ingest's group commit. Deliveries that arrive together are stored in one INSERT, and the new
 * ones queued in one Redis round trip: round trips, not bytes, are what ingest pays for most.
 * Every caller still waits for its own delivery to be committed (and queued) before Gitea gets an
 * answer. A failure to store rejects the whole batch: none of it was kept, each sender gets 503.
 * At low load a delivery goes at once; no timer adds latency.
 */
export class DeliveryIntake {
  private readonly coalescer: Coalescer<NewDelivery, IntakeOutcome>;

  constructor(store: DeliveryStore, queue: DeliveryQueue, opts = { maxInFlight: 2, maxBatch: 200 }) {
    this.coalescer = new Coalescer(async (batch) => {
      const fresh = await store.insertMany(batch);
      // The first of several same-id deliveries in a batch is the new one; the rest are repeats.
      const claimed = new Set<string>();
      const isNew = batch.map((d) => {
        const first = fresh.has(d.id) && !claimed.has(d.id);
        if (first) claimed.add(d.id);
        return first;
      });
      const toQueue = batch.filter((d, i) => isNew[i] && d.ignoredReason === undefined).map((d) => d.id);
      const queued = await queue.enqueueMany(toQueue);
      return batch.map((d, i): IntakeOutcome => {
        if (!isNew[i]) return 'duplicate';
        if (d.ignoredReason !== undefined) return 'ignored';
        return queued ? 'queued' : 'received';
      });
    }, opts);
  }

  submit(delivery: NewDelivery): Promise<IntakeOutcome> {
    return this.coalescer.submit(delivery);
  }
}
