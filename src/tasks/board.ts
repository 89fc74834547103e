import type { Knex } from 'knex';
import { toTask, type Task, type TaskRow } from './model.js';

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
