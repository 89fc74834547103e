import type { Knex } from 'knex';
import { CACHE_TTL, gens, type Cache } from '../cache.js';
import { conflict, notFound, TransitionError } from '../errors.js';
import { unitOfWork, type Tx, type UnitOfWorkDeps } from './unit-of-work.js';
import { toFeedEvent, type EventPublisher, type EventRow } from './event-log.js';
import type { Page } from '../pagination.js';
import { refusal, type TaskState, type TransitionSource, type TransitionVia } from './states.js';
import { TaskClaims } from './claims.js';
import { toFeedback, toQuestion, toTask, type Task, type TaskDetail, type TaskRow } from './model.js';

export interface TransitionOptions {
  source: TransitionSource;
  /** How, where SPEC §2 tells requests of one source apart (a claim, a question, an answer). */
  via?: TransitionVia;
  actor: string;
  reason?: string | null;
  deliveryId?: string | null;
  /** Columns written together with the new state, in the same statement. */
  patch?: Partial<Omit<TaskRow, 'id' | 'state' | 'project_id'>>;
}

export interface TransitionResult {
  task: Task;
  changed: boolean;
  from: TaskState;
}

/** Told after an answer is committed, so waiting agents wake up (Redis pub/sub in production). */
export interface AnswerNotifier {
  answered(taskId: number): Promise<void>;
}

export interface TaskEventView {
  eventId: number;
  type: string;
  from: string | null;
  to: string | null;
  actor: string | null;
  reason: string | null;
  at: string;
}

/** Columns that follow from entering a state, decided here and nowhere else. */
function statePatch(from: TaskState, to: TaskState): Partial<TaskRow> {
  const patch: Partial<TaskRow> = {};
  if (to === 'approved') patch.approved_at = new Date();
  if (from === 'approved' && to !== 'staging' && to !== 'production') patch.approved_at = null;
  if (to === 'backlog') patch.assigned_agent_id = null;
  return patch;
}

/**
 * The only way a task changes. Every state change goes through {@link TaskService.applyTransition},
 * inside a transaction that also appends the task event.
 */
export class TaskService {
  private readonly db: Knex;
  private readonly cache: Cache;
  private readonly uow: UnitOfWorkDeps;
  private readonly answers: AnswerNotifier | null;
  private readonly claims: TaskClaims;

  constructor(deps: { db: Knex; cache: Cache; feed: EventPublisher; answers?: AnswerNotifier }) {
    this.db = deps.db;
    this.cache = deps.cache;
    this.uow = { db: deps.db, cache: deps.cache, feed: deps.feed };
    this.answers = deps.answers ?? null;
    this.claims = new TaskClaims(this.uow);
  }

  async create(input: {
    projectId: number;
    title: string;
    description?: string | null;
    issueNumber?: number | null;
    actor: string;
    deliveryId?: string | null;
  }): Promise<Task> {
    return unitOfWork(this.uow, async (tx) => {
      const project = await tx.trx('projects').where({ id: input.projectId }).first('id');
      if (!project) throw notFound(`project ${input.projectId}`);
      const [id] = await tx.trx('tasks').insert({
        project_id: input.projectId,
        title: input.title,
        description: input.description ?? null,
        issue_number: input.issueNumber ?? null,
        state: 'backlog',
      });
      await tx.emit({
        type: 'task:created',
        projectId: input.projectId,
        taskId: Number(id),
        from: null,
        to: 'backlog',
        actor: input.actor,
        reason: 'created',
        deliveryId: input.deliveryId ?? null,
        payload: { taskId: Number(id), title: input.title },
      });
      tx.touch(gens.taskList(input.projectId));
      return toTask(await this.lockRow(tx, Number(id)));
    });
  }

  async get(id: number): Promise<TaskDetail> {
    return this.cache.getOrLoad(`task:${id}`, CACHE_TTL.task, [gens.task(id)], async () => {
      const row = await this.db<TaskRow>('tasks').where({ id }).first();
      if (!row) throw notFound(`task ${id}`);
      const [questions, feedback] = await Promise.all([
        this.db('task_questions').where({ task_id: id }).orderBy('id'),
        this.db('task_feedback').where({ task_id: id }).orderBy('id'),
      ]);
      return { ...toTask(row), questions: questions.map(toQuestion), feedback: feedback.map(toFeedback) };
    });
  }

  async find(id: number): Promise<Task | null> {
    const row = await this.db<TaskRow>('tasks').where({ id }).first();
    return row ? toTask(row) : null;
  }

  /** `projectIds` narrows the list to those projects (a person's readable ones). */
  async list(filter: { projectId?: number; projectIds?: number[]; state?: TaskState }, page: Page): Promise<{ tasks: Task[]; total: number }> {
    const load = async () => {
      const base = this.db<TaskRow>('tasks').modify((q) => {
        if (filter.projectId !== undefined) q.where('project_id', filter.projectId);
        if (filter.projectIds !== undefined) q.whereIn('project_id', filter.projectIds);
        if (filter.state !== undefined) q.where('state', filter.state);
      });
      const [rows, [{ total }]] = await Promise.all([
        base.clone().orderBy('id', 'asc').limit(page.limit).offset(page.offset),
        base.clone().count({ total: '*' }),
      ]);
      return { tasks: (rows as TaskRow[]).map(toTask), total: Number(total) };
    };
    if (filter.projectId === undefined || filter.projectIds !== undefined) return load();
    const key = `tasklist:${filter.projectId}:${filter.state ?? '*'}:${page.limit}:${page.offset}`;
    return this.cache.getOrLoad(key, CACHE_TTL.taskList, [gens.taskList(filter.projectId)], load);
  }

  async update(
    id: number,
    changes: { title?: string; description?: string | null; state?: TaskState },
    actor: string,
  ): Promise<Task> {
    return unitOfWork(this.uow, async (tx) => {
      let row = await this.lockRow(tx, id);
      const fields: Partial<TaskRow> = {};
      if (changes.title !== undefined) fields.title = changes.title;
      if (changes.description !== undefined) fields.description = changes.description;
      if (changes.state !== undefined && changes.state !== row.state) {
        await this.applyTransition(tx, row, changes.state, { source: 'rest', actor, reason: 'changed through the API', patch: fields });
      } else if (Object.keys(fields).length) {
        await tx.trx('tasks').where({ id }).update({ ...fields, updated_at: new Date() });
        tx.touch(gens.task(id), gens.taskList(row.project_id));
      }
      row = await this.lockRow(tx, id);
      return toTask(row);
    });
  }

  /** Moves a task, or refuses with a TransitionError; moving to the current state changes nothing. */
  async transition(id: number, to: TaskState, opts: TransitionOptions): Promise<TransitionResult> {
    return unitOfWork(this.uow, async (tx) => {
      const row = await this.lockRow(tx, id);
      return this.applyTransition(tx, row, to, opts);
    });
  }

  /** The state machine's single write path; the row must be locked by the caller's transaction. */
  async applyTransition(tx: Tx, row: TaskRow, to: TaskState, opts: TransitionOptions): Promise<TransitionResult> {
    const from = row.state;
    if (from === to) {
      if (opts.patch && Object.keys(opts.patch).length) {
        await tx.trx('tasks').where({ id: row.id }).update({ ...opts.patch, updated_at: new Date() });
        tx.touch(gens.task(row.id), gens.taskList(row.project_id));
      }
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

  /** Sets link fields (branch, PR, head, preview…) without a state change. */
  async link(id: number, fields: TransitionOptions['patch']): Promise<Task> {
    return unitOfWork(this.uow, async (tx) => {
      const row = await this.lockRow(tx, id);
      if (fields && Object.keys(fields).length) {
        await tx.trx('tasks').where({ id }).update({ ...fields, updated_at: new Date() });
        tx.touch(gens.task(id), gens.taskList(row.project_id));
      }
      return toTask(await this.lockRow(tx, id));
    });
  }

  /** Runs fn with the task's row locked, for decisions that read and then write it. */
  async withTask<T>(id: number, fn: (tx: Tx, row: TaskRow) => Promise<T>): Promise<T> {
    return unitOfWork(this.uow, async (tx) => fn(tx, await this.lockRow(tx, id)));
  }

  async lockRow(tx: Tx, id: number): Promise<TaskRow> {
    const row = await tx.trx<TaskRow>('tasks').where({ id }).forUpdate().first();
    if (!row) throw notFound(`task ${id}`);
    return row;
  }

  /**
   * Atomic claim of the oldest backlog task (of the project, if given): it moves to in_progress,
   * assigned to the agent, who is recorded busy on it. Concurrent claims never get the same task.
   */
  async claimNext(agentId: number, actor: string, projectId?: number): Promise<Task | null> {
    return this.claims.claim({ agentId, actor, projectId });
  }

  async ask(taskId: number, agentId: number | null, question: string, actor: string): Promise<{ questionId: number; task: Task }> {
    return unitOfWork(this.uow, async (tx) => {
      const row = await this.lockRow(tx, taskId);
      if (row.state !== 'in_progress') {
        throw new TransitionError(taskId, row.state, 'needs_input', `task ${taskId} is ${row.state}: questions are asked while in_progress`);
      }
      const [questionId] = await tx.trx('task_questions').insert({ task_id: taskId, agent_id: agentId, question });
      const { task } = await this.applyTransition(tx, row, 'needs_input', { source: 'agent', via: 'question', actor, reason: 'asked a question' });
      await tx.emit({
        type: 'task:needs_input',
        projectId: row.project_id,
        taskId,
        actor,
        reason: question,
        payload: { taskId, question },
      });
      return { questionId: Number(questionId), task };
    });
  }

  async recordQuestionComment(questionId: number, commentId: number, taskId: number): Promise<void> {
    await this.db('task_questions').where({ id: questionId }).update({ gitea_comment_id: commentId });
    await this.cache.bump([gens.task(taskId)]);
  }

  /** Answers the open question and hands the task back to its agent. */
  async answer(
    taskId: number,
    response: string,
    opts: { actor: string; source: TransitionSource; deliveryId?: string | null },
  ): Promise<Task> {
    const task = await unitOfWork(this.uow, async (tx) => {
      const row = await this.lockRow(tx, taskId);
      const open = await tx.trx('task_questions').where({ task_id: taskId }).whereNull('answered_at').orderBy('id', 'desc').first();
      if (row.state !== 'needs_input' || !open) {
        throw conflict(`task ${taskId} has no open question to answer (it is ${row.state})`);
      }
      await tx.trx('task_questions')
        .where({ task_id: taskId })
        .whereNull('answered_at')
        .update({ answer: response, answered_by: opts.actor, answered_at: new Date() });
      const result = await this.applyTransition(tx, row, 'in_progress', {
        source: opts.source,
        via: 'answer',
        actor: opts.actor,
        reason: 'question answered',
        deliveryId: opts.deliveryId,
      });
      return result.task;
    });
    await this.answers?.answered(taskId);
    return task;
  }

  async latestQuestion(taskId: number): Promise<ReturnType<typeof toQuestion> | null> {
    const row = await this.db('task_questions').where({ task_id: taskId }).orderBy('id', 'desc').first();
    return row ? toQuestion(row) : null;
  }

  /** Stores review text for the agent; a replayed delivery stores nothing twice. */
  async addFeedback(taskId: number, fb: { kind: string; author: string | null; body: string; deliveryId?: string | null }): Promise<void> {
    await this.db('task_feedback')
      .insert({ task_id: taskId, kind: fb.kind, author: fb.author, body: fb.body, delivery_id: fb.deliveryId ?? null })
      .onConflict(['task_id', 'delivery_id'])
      .ignore();
    await this.cache.bump([gens.task(taskId)]);
  }

  async events(taskId: number, page: Page): Promise<{ events: TaskEventView[]; total: number }> {
    const exists = await this.db('tasks').where({ id: taskId }).first('id');
    if (!exists) throw notFound(`task ${taskId}`);
    const [rows, [{ total }]] = await Promise.all([
      this.db<EventRow>('task_events').where({ task_id: taskId }).orderBy('id', 'asc').limit(page.limit).offset(page.offset),
      this.db('task_events').where({ task_id: taskId }).count({ total: '*' }),
    ]);
    return {
      events: (rows as EventRow[]).map((r) => ({
        eventId: toFeedEvent(r).eventId,
        type: r.type,
        from: r.from_state,
        to: r.to_state,
        actor: r.actor,
        reason: r.reason,
        at: new Date(r.created_at).toISOString(),
      })),
      total: Number(total),
    };
  }

  async findByPr(projectId: number, prNumber: number): Promise<Task | null> {
    const row = await this.db<TaskRow>('tasks').where({ project_id: projectId, pr_number: prNumber }).orderBy('id', 'desc').first();
    return row ? toTask(row) : null;
  }

  /** Did this delivery create the task? A retried delivery then finishes its work instead of stopping. */
  async createdByDelivery(taskId: number, deliveryId: string): Promise<boolean> {
    return !!(await this.db('task_events').where({ task_id: taskId, type: 'task:created', delivery_id: deliveryId }).first('id'));
  }

  async findByIssue(projectId: number, issueNumber: number): Promise<Task | null> {
    const row = await this.db<TaskRow>('tasks').where({ project_id: projectId, issue_number: issueNumber }).first();
    return row ? toTask(row) : null;
  }

  async inStates(projectId: number, states: TaskState[]): Promise<Task[]> {
    const rows = await this.db<TaskRow>('tasks').where('project_id', projectId).whereIn('state', states).orderBy('id');
    return rows.map(toTask);
  }
}
