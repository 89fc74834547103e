import { Coalescer } from '../coalescer.js';
import type { DeliveryStore, NewDelivery } from './deliveries.js';
import type { DeliveryQueue } from './delivery-queue.js';

/** What became of a delivery by the time Gitea is answered: a repeat, stored (to be relayed to the queue), or ignored. */
export type IntakeOutcome = 'duplicate' | 'received' | 'ignored';

/**
 * Ingest's group commit, in two stages: the deliveries that arrive together are stored in one
 * INSERT, then the new ones handed to a worker in one `relay` job, while the next batch is stored.
 * Round trips, not bytes, are what ingest pays for most, so each stage runs one batch at a time and
 * batches grow with the load; at low load a delivery goes at once (no timer adds latency).
 * Gitea's answer waits for the commit only: the stored row is the queue of record, and the second
 * stage relays it to BullMQ off the request path (a worker adds the delivery jobs). Redis refusing it
 * sets the row back to `received`; a process dying before the relay, or a relay job lost with
 * Redis, leaves a `queued` row without a job; recovery queues both, under
 * the delivery's id as job id, so nothing is lost or doubled. A failure to store rejects the whole
 * batch: none of it was kept, each sender gets 503.
 */
export class DeliveryIntake {
  private readonly inserts: Coalescer<NewDelivery, boolean>;

  constructor(
    store: DeliveryStore,
    /** Its own group commit is the second stage. */
    private readonly queue: DeliveryQueue,
    opts = { maxInFlight: 1, maxBatch: 200 },
  ) {
    this.inserts = new Coalescer(async (batch) => {
      const fresh = await store.insertMany(batch);
      // The first of several same-id deliveries in a batch is the new one; the rest are repeats.
      const claimed = new Set<string>();
      return batch.map((d) => {
        const first = fresh.has(d.id) && !claimed.has(d.id);
        if (first) claimed.add(d.id);
        return first;
      });
    }, opts);
  }

  async submit(delivery: NewDelivery): Promise<IntakeOutcome> {
    if (!(await this.inserts.submit(delivery))) return 'duplicate';
    if (delivery.ignoredReason !== undefined) return 'ignored';
    // Not awaited: relay settles every failure itself (the row goes back to `received` for recovery).
    void this.queue.relay({ id: delivery.id, orderingKey: delivery.orderingKey }).catch(() => undefined);
    return 'received';
  }
}
