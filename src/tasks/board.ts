import type { Knex } from 'knex';
import { toTask, type BoardTask, type Task, type TaskRow } from './model.js';

/** The project a task belongs to, read through `db` (which may be a transaction); null for no such task. */
export async function projectOfTask(db: Knex, taskId: number): Promise<number | null> {
  const row = await db<TaskRow>('tasks').where({ id: taskId }).first('project_id');
  return row?.project_id ?? null;
}

/**
 * A board's tasks (one project's, or all) read through `db`, which may be a transaction: the feed
 * reads them in the same view as the event log, unlike TaskService.list, which is cached.
 */
export async function boardTasks(db: Knex, projectId: number | null): Promise<Task[]> {
  const rows = await db<TaskRow>('tasks')
    .modify((q) => {
      if (projectId !== null) q.where('project_id', projectId);
    })
    .orderBy('id', 'asc');
  return (rows as TaskRow[]).map(toTask);
}

/** The tasks being read: one task, one project's, or (projectId null) every project's. */
export type CardScope = { taskId: number } | { projectId: number | null };

/**
 * Adds to each task what its card shows beyond the REST shape: since when it is in its state
 * (its newest transition in the log) and its open question. Read with the caller's connection,
 * so a snapshot's transaction sees the same view for both.
 */
export async function withCardFacts(db: Knex | Knex.Transaction, tasks: Task[], scope: CardScope): Promise<BoardTask[]> {
  if (tasks.length === 0) return [];
  const scoped = (q: Knex.QueryBuilder, projectColumn: string) => {
    if ('taskId' in scope) q.where('task_id', scope.taskId);
    else if (scope.projectId !== null) q.where(projectColumn, scope.projectId);
  };
  const [transitions, questions] = await Promise.all([
    db('task_events')
      .modify(scoped, 'project_id')
      .whereNotNull('task_id')
      .whereNotNull('to_state')
      .groupBy('task_id')
      .select('task_id', db.raw('MAX(created_at) AS since')),
    db('task_questions')
      .join('tasks', 'tasks.id', 'task_questions.task_id')
      .modify(scoped, 'tasks.project_id')
      .whereNull('task_questions.answered_at')
      .orderBy('task_questions.id', 'asc')
      .select('task_questions.task_id', 'task_questions.question'),
  ]);
  const since = new Map<number, string>((transitions as Array<{ task_id: number; since: Date | string }>).map((r) => [Number(r.task_id), new Date(r.since).toISOString()]));
  // Ascending ids: the newest open question of a task is the one set last.
  const open = new Map<number, string>((questions as Array<{ task_id: number; question: string }>).map((r) => [Number(r.task_id), r.question]));
  return tasks.map((t) => ({
    ...t,
    stateSince: since.get(t.id) ?? null,
    question: t.state === 'needs_input' ? (open.get(t.id) ?? null) : null,
  }));
}
