interface Waiting<I, O> {
  item: I;
  resolve: (result: O) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: items that arrive while earlier batches are in flight are handled together in one
 * call, so a round trip is shared instead of paid per item. At low load an item goes at once: no
 * timer adds latency. Each caller still waits for its own item's result.
 */
export class Coalescer<I, O> {
  private waiting: Array<Waiting<I, O>> = [];
  private inFlight = 0;

  constructor(
    /** Handles a batch; answers one result per item, in order. */
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly opts: { maxInFlight: number; maxBatch: number },
  ) {}

  submit(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.opts.maxInFlight && this.waiting.length) {
      const batch = this.waiting.splice(0, this.opts.maxBatch);
      this.inFlight++;
      this.run(batch.map((w) => w.item))
        .then(
          (results) => batch.forEach((w, i) => w.resolve(results[i])),
          (err) => batch.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }
}
