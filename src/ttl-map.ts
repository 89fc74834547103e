/**
 * An in-process map whose entries expire after `ttlMs` and which never holds more than `maxEntries`
 * (the oldest entry goes first): a cache that cannot grow with the traffic it serves.
 */
export class TtlMap<K, V> {
  private readonly entries = new Map<K, { value: V; expires: number }>();

  constructor(private readonly opts: { ttlMs: number; maxEntries: number }) {}

  get(key: K, now = Date.now()): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expires > now) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  set(key: K, value: V, now = Date.now()): void {
    if (this.opts.ttlMs <= 0) return;
    this.entries.delete(key);
    if (this.entries.size >= this.opts.maxEntries) this.entries.delete(this.entries.keys().next().value as K);
    this.entries.set(key, { value, expires: now + this.opts.ttlMs });
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  /** Drops every entry whose value matches, e.g. everything cached about one agent. */
  deleteWhere(match: (value: V) => boolean): void {
    for (const [key, entry] of this.entries) if (match(entry.value)) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
