import type { Knex } from 'knex';
import { jsonColumn } from '../db/json.js';

export const FEED_EVENT_TYPES = [
  'task:created',
  'task:status_changed',
  'task:needs_input',
  'task:ready_to_test',
  'agent:status',
  'deploy:started',
  'deploy:completed',
] as const;
export type FeedEventType = (typeof FEED_EVENT_TYPES)[number];

/**
 * The append-only log of what happened to tasks, agents and deployments (`task_events`). It lives
 * with the tasks because their transactions append to it; the feed only reads it.
 */

/** One entry of the append-only log, and exactly what the feed sends (payload fields spread in). */
export interface FeedEvent {
  eventId: number;
  type: FeedEventType;
  projectId: number | null;
  taskId: number | null;
  at: string;
  payload: Record<string, unknown>;
}

/** Where committed events go next (Redis pub/sub to every web process in production). */
export interface EventPublisher {
  publish(events: FeedEvent[]): Promise<void>;
}

export interface NewEvent {
  type: FeedEventType;
  projectId: number | null;
  taskId?: number | null;
  from?: string | null;
  to?: string | null;
  actor?: string | null;
  reason?: string | null;
  deliveryId?: string | null;
  payload: Record<string, unknown>;
}

export interface EventRow {
  id: number | string;
  type: FeedEventType;
  project_id: number | null;
  task_id: number | null;
  from_state: string | null;
  to_state: string | null;
  actor: string | null;
  reason: string | null;
  delivery_id: string | null;
  data: string | Record<string, unknown>;
  created_at: Date;
}

/**
 * Appends events in one insert; their ids are consecutive, in the order given (the caller holds the
 * event sequence lock, and InnoDB numbers the rows of one simple insert consecutively).
 */
export async function appendEvents(trx: Knex.Transaction, events: NewEvent[]): Promise<FeedEvent[]> {
  if (!events.length) return [];
  const at = new Date();
  const [first] = await trx('task_events').insert(
    events.map((event) => ({
      type: event.type,
      project_id: event.projectId,
      task_id: event.taskId ?? null,
      from_state: event.from ?? null,
      to_state: event.to ?? null,
      actor: event.actor ?? null,
      reason: event.reason ?? null,
      delivery_id: event.deliveryId ?? null,
      data: JSON.stringify(event.payload),
      created_at: at,
    })),
  );
  return events.map((event, i) => ({
    eventId: Number(first) + i,
    type: event.type,
    projectId: event.projectId,
    taskId: event.taskId ?? null,
    at: at.toISOString(),
    payload: event.payload,
  }));
}

export async function appendEvent(trx: Knex.Transaction, event: NewEvent): Promise<FeedEvent> {
  return (await appendEvents(trx, [event]))[0];
}

export function toFeedEvent(row: EventRow): FeedEvent {
  return {
    eventId: Number(row.id),
    type: row.type,
    projectId: row.project_id,
    taskId: row.task_id,
    at: new Date(row.created_at).toISOString(),
    payload: jsonColumn(row.data),
  };
}

export async function eventsAfter(
  db: Knex,
  afterId: number,
  projectId: number | null,
  limit: number,
): Promise<FeedEvent[]> {
  const q = db<EventRow>('task_events').where('id', '>', afterId).orderBy('id', 'asc').limit(limit);
  if (projectId !== null) q.andWhere('project_id', projectId);
  return (await q).map(toFeedEvent);
}

const REPLAY_PAGE = 500;

/** The newest event id (0 for an empty log). */
export async function newestEventId(db: Knex): Promise<number> {
  const [row] = await db('task_events').max({ id: 'id' });
  return Number(row?.id ?? 0);
}

/** Events with after < id < before, oldest first. */
export async function eventsBetween(db: Knex, after: number, before: number): Promise<FeedEvent[]> {
  const rows = await db<EventRow>('task_events').where('id', '>', after).andWhere('id', '<', before).orderBy('id', 'asc');
  return (rows as EventRow[]).map(toFeedEvent);
}

/** A project's board also shows events about no project (an agent going idle); without a project, everything. */
function inScope(projectId: number | null) {
  return (q: Knex.QueryBuilder) => {
    if (projectId !== null) q.where((w) => w.where('project_id', projectId).orWhereNull('project_id'));
  };
}

/** The ids of the newest `count` events in scope, oldest first. */
export async function recentEventIds(db: Knex, projectId: number | null, count: number): Promise<number[]> {
  const recent = (await db('task_events').modify(inScope(projectId)).orderBy('id', 'desc').limit(count).pluck('id')) as Array<number | string>;
  return recent.map(Number).reverse();
}

async function eventsPage(db: Knex, projectId: number | null, after: number, upTo?: number): Promise<FeedEvent[]> {
  const rows = await db<EventRow>('task_events')
    .modify(inScope(projectId))
    .where('id', '>', after)
    .modify((q) => {
      if (upTo !== undefined) q.andWhere('id', '<=', upTo);
    })
    .orderBy('id', 'asc')
    .limit(REPLAY_PAGE);
  return (rows as EventRow[]).map(toFeedEvent);
}

/** Every event in scope after `after` (up to `upTo`), in order, a page at a time. */
export async function replayEvents(db: Knex, projectId: number | null, after: number, onEvent: (e: FeedEvent) => void, upTo?: number): Promise<void> {
  let cursor = after;
  for (;;) {
    const page = await eventsPage(db, projectId, cursor, upTo);
    page.forEach(onEvent);
    if (page.length < REPLAY_PAGE) return;
    cursor = page[page.length - 1].eventId;
  }
}
