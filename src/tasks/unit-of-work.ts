import type { Knex } from 'knex';
import type { Cache } from '../cache.js';
import { appendEvents, type EventPublisher, type FeedEvent, type NewEvent } from './event-log.js';

export interface Tx {
  trx: Knex.Transaction;
  /** Appends to the event log inside this transaction; published only after the commit. */
  emit(event: NewEvent): Promise<FeedEvent>;
  /** Appends several events in one statement, in order. */
  emitAll(events: NewEvent[]): Promise<FeedEvent[]>;
  /** Marks cache generations to invalidate after the commit. */
  touch(...gens: string[]): void;
}

export interface UnitOfWorkDeps {
  db: Knex;
  cache: Cache;
  feed: EventPublisher;
}

/** Runs fn in a transaction; after the commit, invalidates what it touched and publishes what it emitted. */
export async function unitOfWork<T>(
  deps: UnitOfWorkDeps,
  fn: (tx: Tx) => Promise<T>,
  opts: { isolationLevel?: Knex.IsolationLevels } = {},
): Promise<T> {
  const events: FeedEvent[] = [];
  const touched: string[] = [];
  const result = await deps.db.transaction(async (trx) => {
    const emitAll = async (batch: NewEvent[]) => {
      // Held until commit: transactions that emit commit one after another, in event id order.
      if (!events.length && batch.length) await trx.raw('SELECT id FROM event_sequence WHERE id = 1 FOR UPDATE');
      const stored = await appendEvents(trx, batch);
      events.push(...stored);
      return stored;
    };
    return fn({
      trx,
      emit: async (event) => (await emitAll([event]))[0],
      emitAll,
      touch: (...gens) => touched.push(...gens),
    });
  }, opts);
  await deps.cache.bump(touched);
  if (events.length) await deps.feed.publish(events);
  return result;
}
