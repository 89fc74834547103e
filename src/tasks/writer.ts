import { gens } from '../cache.js';
import { notFound, TransitionError } from '../errors.js';
import { unitOfWork, type Tx, type UnitOfWorkDeps } from './unit-of-work.js';
import { refusal, type TaskState, type TransitionSource, type TransitionVia } from './states.js';
import { toTask, type Task, type TaskRow } from './model.js';

/*
 * The state machine's transaction: only modules of src/tasks/ use it (the import-graph test holds
 * that); everything else asks TaskService for a move by its intent.
 */

/** Columns a move may write with the new state (links, heads, previews), never state itself. */
export type TaskColumns = Partial<Omit<TaskRow, 'id' | 'state' | 'project_id'>>;

export interface TransitionOptions {
  source: TransitionSource;
  /** How, where SPEC §2 tells requests of one source apart (a claim, a question, an answer). */
  via?: TransitionVia;
  actor: string;
  reason?: string | null;
  deliveryId?: string | null;
  /** Columns written together with the new state, in the same statement. */
  patch?: TaskColumns;
}

export interface TransitionResult {
  task: Task;
  changed: boolean;
  from: TaskState;
}

/** Columns that follow from entering a state, decided here and nowhere else. */
export function statePatch(from: TaskState, to: TaskState): Partial<TaskRow> {
  const patch: Partial<TaskRow> = {};
  if (to === 'approved') patch.approved_at = new Date();
  if (from === 'approved' && to !== 'staging' && to !== 'production') patch.approved_at = null;
  if (to === 'backlog') patch.assigned_agent_id = null;
  return patch;
}

export class TaskWriter {
  constructor(private readonly uow: UnitOfWorkDeps) {}

  /** Runs fn in one transaction; after the commit, caches are invalidated and events published. */
  run<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return unitOfWork(this.uow, fn);
  }

  /** Runs fn with the task's row locked, for decisions that read and then write it. */
  withTask<T>(id: number, fn: (tx: Tx, row: TaskRow) => Promise<T>): Promise<T> {
    return this.run(async (tx) => fn(tx, await this.lockRow(tx, id)));
  }

  async lockRow(tx: Tx, id: number): Promise<TaskRow> {
    const row = await tx.trx<TaskRow>('tasks').where({ id }).forUpdate().first();
    if (!row) throw notFound(`task ${id}`);
    return row;
  }

  /**
   * Writes columns that are not the state, in one statement without a lock, when the row still
   * holds `expected` and its state is one of `states`; true when it did (then nothing else needs
   * deciding: the caller checked what the write means for those states). Nothing is published.
   */
  async writeColumnsIf(
    task: { id: number; projectId: number },
    expected: { columns: TaskColumns; states: readonly TaskState[] },
    columns: TaskColumns,
  ): Promise<boolean> {
    const written = await this.uow.db('tasks')
      .where({ id: task.id, ...expected.columns })
      .whereIn('state', expected.states)
      .update({ ...columns, updated_at: new Date() });
    if (written) await this.uow.cache.bump([gens.task(task.id), gens.taskList(task.projectId)]);
    return written > 0;
  }

  /** Writes columns that are not the state; nothing is published. */
  async writeColumns(tx: Tx, row: TaskRow, columns: TaskColumns): Promise<void> {
    if (!Object.keys(columns).length) return;
    await tx.trx('tasks').where({ id: row.id }).update({ ...columns, updated_at: new Date() });
    tx.touch(gens.task(row.id), gens.taskList(row.project_id));
  }

  /** The state machine's single write path; the row must be locked by this transaction. */
  async apply(tx: Tx, row: TaskRow, to: TaskState, opts: TransitionOptions): Promise<TransitionResult> {
    const from = row.state;
    if (from === to) {
      await this.writeColumns(tx, row, opts.patch ?? {});
      return { task: toTask(await this.lockRow(tx, row.id)), changed: false, from };
    }
    // Whether the project deploys previews decides who may declare a task ready_to_test.
    const previews =
      to === 'ready_to_test' && opts.source !== 'system'
        ? Boolean((await tx.trx('projects').where({ id: row.project_id }).first('preview_image'))?.preview_image)
        : undefined;
    const why = refusal(from, to, { source: opts.source, via: opts.via, previews });
    if (why) throw new TransitionError(row.id, from, to, `task ${row.id}: ${why}`);
    await tx.trx('tasks')
      .where({ id: row.id })
      .update({ ...statePatch(from, to), ...opts.patch, state: to, updated_at: new Date() });
    await tx.emit({
      type: 'task:status_changed',
      projectId: row.project_id,
      taskId: row.id,
      from,
      to,
      actor: opts.actor,
      reason: opts.reason ?? null,
      deliveryId: opts.deliveryId ?? null,
      payload: { taskId: row.id, oldState: from, newState: to },
    });
    tx.touch(gens.task(row.id), gens.taskList(row.project_id));
    return { task: toTask(await this.lockRow(tx, row.id)), changed: true, from };
  }
}
