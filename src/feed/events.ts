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

/** One entry of the append-only log, and exactly what the feed sends (payload fields spread in). */
export interface FeedEvent {
  eventId: number;
  type: FeedEventType;
  projectId: number | null;
  taskId: number | null;
  at: string;
  payload: Record<string, unknown>;
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

export async function appendEvent(trx: Knex.Transaction, event: NewEvent): Promise<FeedEvent> {
  const at = new Date();
  const [id] = await trx('task_events').insert({
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
  });
  return {
    eventId: Number(id),
    type: event.type,
    projectId: event.projectId,
    taskId: event.taskId ?? null,
    at: at.toISOString(),
    payload: event.payload,
  };
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

/** The wire form: `{eventId, projectId, at, ...payload}` under the event's name. */
export function wireEvent(event: FeedEvent): Record<string, unknown> {
  return { ...event.payload, eventId: event.eventId, projectId: event.projectId, at: event.at };
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
