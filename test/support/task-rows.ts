import type { Knex } from 'knex';
import { gens, type Cache } from '../../src/cache.js';
import type { TaskRow } from '../../src/tasks/model.js';

/**
 * Sets up a task's columns the way earlier deliveries would have left them (a linked PR, a head,
 * an issue), without going through those deliveries; the task's cache entries are invalidated as
 * the service's own writes do. For test setup only: the service changes tasks through TaskService.
 */
export async function setTaskColumns(deps: { db: Knex; cache: Cache }, taskId: number, columns: Partial<Omit<TaskRow, 'id' | 'state'>>): Promise<void> {
  const row = await deps.db<TaskRow>('tasks').where({ id: taskId }).first('project_id');
  if (!row) throw new Error(`task ${taskId} does not exist`);
  await deps.db('tasks').where({ id: taskId }).update({ ...columns, updated_at: new Date() });
  await deps.cache.bump([gens.task(taskId), gens.taskList(row.project_id)]);
}
