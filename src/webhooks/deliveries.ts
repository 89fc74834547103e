import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { notFound } from '../errors.js';
import type { Page } from '../pagination.js';

export const DELIVERY_STATUSES = ['received', 'queued', 'processed', 'ignored', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];
/** The statuses a delivery ends in. */
export const FINISHED_STATUSES = ['processed', 'ignored', 'failed'] as const;
export type FinishedStatus = (typeof FINISHED_STATUSES)[number];

interface PreparedConnection {
  execute(sql: string, params: unknown[], cb: (err: Error | null, result: { affectedRows: number }) => void): void;
}

export interface DeliveryRow {
  seq: number | string;
  delivery_id: string;
  event: string;
  event_type: string;
  action: string | null;
  repository: string | null;
  ordering_key: string | null;
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  last_error: string | null;
  /** After a failed handler run: not to run again before this. */
  retry_at: Date | null;
  /** Failed handler runs since it was stored or last replayed. */
  failed_runs: number;
  received_at: Date;
  queued_at: Date | null;
  processed_at: Date | null;
}

/** How a delivery ended, and when. */
export interface DeliveryEnd {
  id: string;
  status: FinishedStatus;
  note: string | null;
  at: Date;
}

export interface DeliveryView {
  id: string;
  event: string;
  eventType: string;
  action: string | null;
  repository: string | null;
  status: DeliveryStatus;
  attempts: number;
  lastError: string | null;
  receivedAt: string;
  processedAt: string | null;
}

export interface NewDelivery {
  id: string;
  event: string;
  eventType: string;
  action: string | null;
  repository: string | null;
  orderingKey: string | null;
  /**
   * The payload JSON: its bytes as received when they are valid UTF-8 (sent to MySQL as they are,
   * and kept off the JavaScript heap while the delivery waits for its insert), else the text.
   */
  payload: string | Buffer;
  /** Set for an event aiworker does not handle: the row is stored as `ignored`, with this reason. */
  ignoredReason?: string;
}

const toView = (r: DeliveryRow): DeliveryView => ({
  id: r.delivery_id,
  event: r.event,
  eventType: r.event_type,
  action: r.action,
  repository: r.repository,
  status: r.status,
  attempts: r.attempts,
  lastError: r.last_error,
  receivedAt: new Date(r.received_at).toISOString(),
  processedAt: r.processed_at ? new Date(r.processed_at).toISOString() : null,
});

/**
 * Error messages can quote whole SQL statements with their values; one that outgrew the TEXT
 * column would fail the very update that records the failure and leave the delivery pending.
 */
const LAST_ERROR_CHARS = 4000;
const clip = (message: string) => (message.length > LAST_ERROR_CHARS ? `${message.slice(0, LAST_ERROR_CHARS)}…` : message);

/** The durable record of every delivery: MySQL is the truth, the queue only a way to run it. */
export class DeliveryStore {
  constructor(private readonly db: Knex) {}

  /** Stores a delivery once; false when its id was seen before. */
  async insert(d: NewDelivery): Promise<boolean> {
    return (await this.insertMany([d])).has(d.id);
  }

  /**
   * Stores deliveries in one statement (one commit), each id once; returns the ids that are new.
   * Rows seen before keep their old batch mark, which is how they are told apart.
   */
  async insertMany(ds: NewDelivery[]): Promise<Set<string>> {
    const unique = [...new Map(ds.map((d) => [d.id, d])).values()];
    if (!unique.length) return new Set();
    const batch = randomUUID();
    // New rows are stored `queued` at once (no second write once queued); unhandled events `ignored`.
    const affectedRows = await this.execute(
      `INSERT IGNORE INTO webhook_deliveries (delivery_id, event, event_type, action, repository, ordering_key, payload, status, last_error, ingest_batch, queued_at, processed_at)
       VALUES ${unique.map(() => "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP(3), IF(? = 'ignored', CURRENT_TIMESTAMP(3), NULL))").join(', ')}`,
      unique.flatMap((d) => {
        const status = d.ignoredReason === undefined ? 'queued' : 'ignored';
        return [d.id, d.event, d.eventType, d.action, d.repository, d.orderingKey, d.payload, status, d.ignoredReason ?? null, batch, status];
      }),
    );
    if (affectedRows === unique.length) return new Set(unique.map((d) => d.id));
    const rows = await this.db('webhook_deliveries')
      .whereIn('delivery_id', unique.map((d) => d.id))
      .andWhere('ingest_batch', batch)
      .select('delivery_id');
    return new Set(rows.map((r: { delivery_id: string }) => r.delivery_id));
  }

  /**
   * A prepared statement on a pooled connection: payloads travel in the binary protocol instead of
   * being escaped into the SQL text, which was most of ingest's CPU time.
   */
  private async execute(sql: string, params: unknown[]): Promise<number> {
    const client = this.db.client as {
      acquireConnection(): Promise<PreparedConnection>;
      releaseConnection(conn: PreparedConnection): Promise<void>;
    };
    const conn = await client.acquireConnection();
    try {
      return await new Promise<number>((resolve, reject) =>
        conn.execute(sql, params, (err, result) => (err ? reject(err) : resolve(result.affectedRows))),
      );
    } finally {
      await client.releaseConnection(conn);
    }
  }

  async get(id: string): Promise<DeliveryRow | null> {
    return (await this.db<DeliveryRow>('webhook_deliveries').where({ delivery_id: id }).first()) ?? null;
  }

  /** received -> queued; never moves a delivery a worker has already finished. */
  async markQueued(ids: string[]): Promise<void> {
    if (!ids.length) return;
    await this.db('webhook_deliveries')
      .whereIn('delivery_id', ids)
      .whereIn('status', ['received', 'queued'])
      .update({ status: 'queued', queued_at: new Date() });
  }

  /** queued -> received: its job could not be queued (Redis away); recovery queues it later. */
  async markReceived(ids: string[]): Promise<void> {
    if (!ids.length) return;
    await this.db('webhook_deliveries').whereIn('delivery_id', ids).andWhere('status', 'queued').update({ status: 'received', queued_at: null });
  }

  /**
   * The ends of deliveries, each counting the handler run that ended it, in one commit: one statement per distinct outcome (deliveries
   * of a key mostly end alike), each keeping the time its delivery ended.
   */
  async finishMany(ends: DeliveryEnd[]): Promise<void> {
    if (!ends.length) return;
    const groups = new Map<string, DeliveryEnd[]>();
    for (const e of ends) {
      const k = JSON.stringify([e.status, e.note]);
      groups.set(k, [...(groups.get(k) ?? []), e]);
    }
    const write = async (q: Knex) => {
      for (const group of groups.values()) {
        const { status, note } = group[0]!;
        await q('webhook_deliveries')
          .whereIn('delivery_id', group.map((e) => e.id))
          .update({
            status,
            last_error: note === null ? null : clip(note),
            processed_at: group.length === 1 ? group[0]!.at : q.raw(`CASE delivery_id ${group.map(() => 'WHEN ? THEN ?').join(' ')} END`, group.flatMap((e) => [e.id, e.at])),
            attempts: q.raw('attempts + 1'),
          });
      }
    };
    if (groups.size === 1) await write(this.db);
    else await this.db.transaction(write);
  }

  /** A handler run failed and will be tried again, not before `retryAt`. */
  async recordError(id: string, lastError: string, retryAt: Date): Promise<void> {
    await this.db('webhook_deliveries')
      .where({ delivery_id: id })
      .update({ last_error: clip(lastError), retry_at: retryAt, attempts: this.db.raw('attempts + 1'), failed_runs: this.db.raw('failed_runs + 1') });
  }

  /** Deliveries by seq, in seq order (those deleted meanwhile left out). */
  async getBySeqs(seqs: number[]): Promise<DeliveryRow[]> {
    if (!seqs.length) return [];
    return this.db<DeliveryRow>('webhook_deliveries').whereIn('seq', seqs).orderBy('seq');
  }

  /**
   * The seqs of a key's pending deliveries after `afterSeq`, oldest first, at most `limit`. One
   * ordered index range per pending status, merged: the cost does not depend on how many of the
   * key's deliveries have ended or are waiting.
   */
  async pendingOfKey(orderingKey: string, afterSeq: number, limit: number): Promise<number[]> {
    const range = (status: DeliveryStatus) =>
      this.db('webhook_deliveries').where({ ordering_key: orderingKey, status }).andWhere('seq', '>', afterSeq).orderBy('seq').limit(limit).select('seq');
    const rows: Array<{ seq: number | string }> = await this.db
      .select('seq')
      .from(this.db.unionAll([range('received'), range('queued')], true).as('pending'))
      .orderBy('seq')
      .limit(limit);
    return rows.map((r) => Number(r.seq));
  }

  /** Deliveries MySQL shows as pending for longer than olderThanMs: candidates for queueing again. */
  async pending(olderThanMs: number, limit: number): Promise<Array<Pick<DeliveryRow, 'delivery_id' | 'ordering_key'>>> {
    const cutoff = new Date(Date.now() - olderThanMs);
    return this.db<DeliveryRow>('webhook_deliveries')
      .select('delivery_id', 'ordering_key')
      .whereIn('status', ['received', 'queued'])
      .andWhere((q) => q.where('status', 'received').andWhere('received_at', '<', cutoff).orWhere('queued_at', '<', cutoff))
      .orderBy('seq')
      .limit(limit);
  }

  /**
   * Deletes deliveries that ended before `cutoff`, oldest first and `chunk` at a time (short
   * transactions), with their recorded command replies. Answers how many were deleted.
   */
  async pruneFinished(cutoff: Date, chunk = 1000): Promise<number> {
    const endedBefore = (q: Knex.QueryBuilder) => q.whereIn('status', FINISHED_STATUSES).andWhere('processed_at', '<', cutoff);
    let deleted = 0;
    for (;;) {
      const rows: Array<{ seq: number; delivery_id: string }> = await this.db('webhook_deliveries')
        .modify(endedBefore)
        .orderBy('seq')
        .limit(chunk)
        .select('seq', 'delivery_id');
      if (!rows.length) return deleted;
      await this.db.transaction(async (trx) => {
        // Conditions again: a delivery replayed since the select is pending, and stays.
        deleted += await trx('webhook_deliveries').whereIn('seq', rows.map((r) => r.seq)).modify(endedBefore).delete();
        await trx('command_replies')
          .whereIn('delivery_id', rows.map((r) => r.delivery_id))
          .whereNotExists((q) => q.select(trx.raw('1')).from('webhook_deliveries as d').whereRaw('d.delivery_id = command_replies.delivery_id'))
          .delete();
      });
      if (rows.length < chunk) return deleted;
    }
  }

  /** Marks a delivery to be handled again (replay). */
  async reset(id: string): Promise<void> {
    const n = await this.db('webhook_deliveries')
      .where({ delivery_id: id })
      .update({ status: 'received', last_error: null, processed_at: null, retry_at: null, failed_runs: 0 });
    if (!n) throw notFound(`delivery ${id}`);
  }

  /** `repositories` narrows the list to deliveries from those repositories (a person's readable projects). */
  async list(filter: { status?: DeliveryStatus; repositories?: string[] }, page: Page): Promise<{ deliveries: DeliveryView[]; total: number }> {
    const base = this.db<DeliveryRow>('webhook_deliveries').modify((q) => {
      if (filter.status) q.where('status', filter.status);
      if (filter.repositories) q.whereIn('repository', filter.repositories);
    });
    const [rows, [{ total }]] = await Promise.all([
      base.clone().orderBy('seq', 'desc').limit(page.limit).offset(page.offset),
      base.clone().count({ total: '*' }),
    ]);
    return { deliveries: (rows as DeliveryRow[]).map(toView), total: Number(total) };
  }
}
