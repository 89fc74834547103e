import type { DeliveryStore, NewDelivery } from './deliveries.js';

interface Waiting {
  delivery: NewDelivery;
  resolve: (isNew: boolean) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for webhook deliveries: under load, deliveries that arrive while earlier inserts
 * are in flight are written together in one statement, so a commit is shared instead of paid per
 * delivery. At low load a delivery is written at once: no timer adds latency. Every caller still
 * waits for its own row to be committed before Gitea gets an answer.
 */
export class InsertBatcher {
  private waiting: Waiting[] = [];
  private inFlight = 0;

  constructor(
    private readonly store: DeliveryStore,
    private readonly opts: { maxInFlight: number; maxBatch: number } = { maxInFlight: 4, maxBatch: 200 },
  ) {}

  insert(delivery: NewDelivery): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ delivery, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.opts.maxInFlight && this.waiting.length) {
      const batch = this.waiting.splice(0, this.opts.maxBatch);
      this.inFlight++;
      this.store
        .insertMany(batch.map((w) => w.delivery))
        .then(
          (fresh) => {
            // The first of several same-id deliveries in a batch is the new one; the rest are repeats.
            const claimed = new Set<string>();
            for (const w of batch) {
              const isNew = fresh.has(w.delivery.id) && !claimed.has(w.delivery.id);
              if (isNew) claimed.add(w.delivery.id);
              w.resolve(isNew);
            }
          },
          (err) => batch.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }
}
