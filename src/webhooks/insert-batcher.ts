import { Coalescer } from '../coalescer.js';
import type { DeliveryStore, NewDelivery } from './deliveries.js';

/**
 * Deliveries are stored in group commits: one INSERT for those that arrive together. Every caller
 * still waits for its own row to be committed before Gitea gets an answer.
 */
export class InsertBatcher {
  private readonly coalescer: Coalescer<NewDelivery, boolean>;

  constructor(store: DeliveryStore, opts = { maxInFlight: 2, maxBatch: 200 }) {
    this.coalescer = new Coalescer(async (batch) => {
      const fresh = await store.insertMany(batch);
      // The first of several same-id deliveries in a batch is the new one; the rest are repeats.
      const claimed = new Set<string>();
      return batch.map((d) => {
        const isNew = fresh.has(d.id) && !claimed.has(d.id);
        if (isNew) claimed.add(d.id);
        return isNew;
      });
    }, opts);
  }

  insert(delivery: NewDelivery): Promise<boolean> {
    return this.coalescer.submit(delivery);
  }
}
