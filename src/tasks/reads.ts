import type { Knex } from 'knex';
import { CACHE_TTL, gens, type Cache } from '../cache.js';
import { notFound } from '../errors.js';
import type { Page } from '../pagination.js';
import { toFeedEvent, type EventRow } from './event-log.js';
import type { TaskState } from './states.js';
import { toFeedback, toQuestion, toTask, type Task, type TaskDetail, type TaskRow } from './model.js';

export interface TaskEventView {
  eventId: number;
  type: string;
  from: string | null;
  to: string | null;
  actor: string | null;
  reason: string | null;
  at: string;
}

/** What may be read about tasks; TaskService adds the moves. */
export class TaskReads {
  constructor(
    protected readonly db: Knex,
    protected readonly cache: Cache,
  ) {}

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

  async latestQuestion(taskId: number): Promise<ReturnType<typeof toQuestion> | null> {
    const row = await this.db('task_questions').where({ task_id: taskId }).orderBy('id', 'desc').first();
    return row ? toQuestion(row) : null;
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
