import type { Knex } from 'knex';
import { gens, type Cache } from '../cache.js';
import { conflict, notFound, TransitionError } from '../errors.js';
import type { EventPublisher } from './event-log.js';
import type { TaskState, TransitionSource } from './states.js';
import { toTask, type Task, type TaskRow } from './model.js';
import { TaskReads } from './reads.js';
import { TaskWriter, type TransitionOptions, type TransitionResult } from './writer.js';
import { approveHead, notePullChange, recordHead, recordPush, reviewedHead, type HeadChange, type HeadOutcome, type PushOutcome } from './head.js';
import { FeedbackStore, type NewFeedback } from './feedback.js';
import { previewReady, type PreviewReadiness } from './preview.js';
import { releaseLapsed, silentHolders, type HeldTask } from './liveness.js';
import { TaskClaims } from './claims.js';

export type { TransitionOptions, TransitionResult } from './writer.js';

export interface AskedQuestion {
  questionId: number;
  task: Task;
  /** The question's Gitea comment, once noted. */
  commentId: number | null;
  /** Asked before by the same agent and still open: this call is a retry. */
  repeated: boolean;
}

/** Told after an answer is committed, so waiting agents wake up (Redis pub/sub in production). */
export interface AnswerNotifier {
  answered(taskId: number): Promise<void>;
}

/**
 * The only way a task changes. Callers ask for a move by its intent; each runs in one transaction
 * that also appends its task events (src/tasks/writer.ts, which nothing outside src/tasks/ uses).
 */
export class TaskService extends TaskReads {
  private readonly writer: TaskWriter;
  private readonly answers: AnswerNotifier | null;
  private readonly claims: TaskClaims;
  private readonly feedback: FeedbackStore;

  constructor(deps: { db: Knex; cache: Cache; feed: EventPublisher; answers?: AnswerNotifier }) {
    super(deps.db, deps.cache);
    this.writer = new TaskWriter({ db: deps.db, cache: deps.cache, feed: deps.feed });
    this.answers = deps.answers ?? null;
    this.claims = new TaskClaims({ db: deps.db, cache: deps.cache, feed: deps.feed });
    this.feedback = new FeedbackStore({ db: deps.db, cache: deps.cache });
  }

  async create(input: {
    projectId: number;
    title: string;
    description?: string | null;
    issueNumber?: number | null;
    actor: string;
    deliveryId?: string | null;
  }): Promise<Task> {
    return this.writer.run(async (tx) => {
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
      return toTask(await this.writer.lockRow(tx, Number(id)));
    });
  }

  async update(
    id: number,
    changes: { title?: string; description?: string | null; state?: TaskState },
    actor: string,
  ): Promise<Task> {
    return this.writer.run(async (tx) => {
      let row = await this.writer.lockRow(tx, id);
      const fields: Partial<TaskRow> = {};
      if (changes.title !== undefined) fields.title = changes.title;
      if (changes.description !== undefined) fields.description = changes.description;
      if (changes.state !== undefined && changes.state !== row.state) {
        await this.writer.apply(tx, row, changes.state, { source: 'rest', actor, reason: 'changed through the API', patch: fields });
      } else if (Object.keys(fields).length) {
        await tx.trx('tasks').where({ id }).update({ ...fields, updated_at: new Date() });
        tx.touch(gens.task(id), gens.taskList(row.project_id));
      }
      row = await this.writer.lockRow(tx, id);
      return toTask(row);
    });
  }

  /** Moves a task, or refuses with a TransitionError; moving to the current state changes nothing. */
  async transition(id: number, to: TaskState, opts: TransitionOptions): Promise<TransitionResult> {
    return this.writer.run(async (tx) => {
      const row = await this.writer.lockRow(tx, id);
      return this.writer.apply(tx, row, to, opts);
    });
  }

  /** The oldest backlog task (of the project, if given), now the agent's; null when none is waiting (src/tasks/claims.ts). */
  async claimNext(agentId: number, actor: string, projectId?: number): Promise<Task | null> {
    return this.claims.claim({ agentId, actor, projectId });
  }

  /**
   * Records an agent's question and moves the task to needs_input. The same question asked again by
   * the same agent while it is still open is a retry of the call (its answer was lost, or posting
   * the question on Gitea failed): the question recorded then is returned, `repeated`, with the id
   * of its Gitea comment when that was noted.
   */
  async ask(taskId: number, agentId: number | null, question: string, actor: string): Promise<AskedQuestion> {
    return this.writer.run(async (tx) => {
      const row = await this.writer.lockRow(tx, taskId);
      if (row.state === 'needs_input' && agentId !== null) {
        const open = await tx.trx('task_questions').where({ task_id: taskId }).whereNull('answered_at').orderBy('id', 'desc').first();
        if (open && open.agent_id === agentId && open.question === question) {
          const commentId = open.gitea_comment_id === null ? null : Number(open.gitea_comment_id);
          return { questionId: Number(open.id), task: toTask(row), commentId, repeated: true };
        }
      }
      if (row.state !== 'in_progress') {
        throw new TransitionError(taskId, row.state, 'needs_input', `task ${taskId} is ${row.state}: questions are asked while in_progress`);
      }
      const [questionId] = await tx.trx('task_questions').insert({ task_id: taskId, agent_id: agentId, question });
      const { task } = await this.writer.apply(tx, row, 'needs_input', { source: 'agent', via: 'question', actor, reason: 'asked a question' });
      await tx.emit({
        type: 'task:needs_input',
        projectId: row.project_id,
        taskId,
        actor,
        reason: question,
        payload: { taskId, question },
      });
      return { questionId: Number(questionId), task, commentId: null, repeated: false };
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
    const task = await this.writer.run(async (tx) => {
      const row = await this.writer.lockRow(tx, taskId);
      const open = await tx.trx('task_questions').where({ task_id: taskId }).whereNull('answered_at').orderBy('id', 'desc').first();
      if (row.state !== 'needs_input' || !open) {
        throw conflict(`task ${taskId} has no open question to answer (it is ${row.state})`);
      }
      await tx.trx('task_questions')
        .where({ task_id: taskId })
        .whereNull('answered_at')
        .update({ answer: response, answered_by: opts.actor, answered_at: new Date() });
      const result = await this.writer.apply(tx, row, 'in_progress', {
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

  /** Stores review text for the agent (once per delivery); its id, for the line comments fetched later. */
  addFeedback(taskId: number, fb: NewFeedback): Promise<number> {
    return this.feedback.add(taskId, fb);
  }

  /** The feedback a delivery, or a job by its id, stored for the task; null when it stored none. */
  feedbackOf(taskId: number, deliveryId: string): ReturnType<FeedbackStore['of']> {
    return this.feedback.of(taskId, deliveryId);
  }

  /** A review's line comments, fetched from Gitea for feedback stored before: see src/tasks/feedback.ts. */
  get reviewComments(): Pick<FeedbackStore, 'get' | 'attachedReviews' | 'attachComments'> {
    return this.feedback;
  }

  /** New commits on a task (a push, a created branch, a PR's head): see src/tasks/head.ts. */
  recordHead(taskId: number, sha: string, change: HeadChange): Promise<HeadOutcome> {
    return recordHead(this.writer, taskId, sha, change);
  }

  /** A push (or a branch created, `before` null) on the task's branch: see src/tasks/head.ts. */
  recordPush(task: Pick<Task, 'id' | 'projectId'>, before: string | null, after: string, change: HeadChange): Promise<PushOutcome> {
    return recordPush(this.writer, task, before, after, change);
  }

  /** An approval of the task at its pull request's current head, recorded first if new: see src/tasks/head.ts. */
  approveHead(taskId: number, sha: string, change: HeadChange & { reason: string }): Promise<{ task: Task; changedHead: boolean }> {
    return approveHead(this.writer, taskId, sha, change);
  }

  /** A pull request closed or reopened at `prUpdatedAt`: true when that is older than what the task holds (src/tasks/head.ts). */
  notePullChange(taskId: number, prUpdatedAt: Date | null): Promise<boolean> {
    return notePullChange(this.writer, taskId, prUpdatedAt);
  }

  /** Whether a review of `sha` is of the task's current head (src/tasks/head.ts). */
  reviewedHead(taskId: number, sha: string, change: HeadChange): Promise<'current' | 'outdated'> {
    return reviewedHead(this.writer, taskId, sha, change);
  }

  /** A preview of `sha` is up at `url`: see src/tasks/preview.ts. */
  previewReady(taskId: number, sha: string, url: string, opts: { actor: string; reason: string }): Promise<PreviewReadiness> {
    return previewReady(this.writer, taskId, sha, url, opts);
  }

  /** in_progress tasks whose agent has been silent since the cutoff. */
  silentHolders(cutoff: Date): Promise<HeldTask[]> {
    return silentHolders(this.db, cutoff);
  }

  /** Gives a task whose agent's liveness lapsed back to the backlog (SPEC §2); false when the agent called in meanwhile. */
  releaseLapsed(held: HeldTask, cutoff: Date, opts: { actor: string; timeoutSeconds: number }): Promise<boolean> {
    return releaseLapsed(this.writer, held, cutoff, opts);
  }

  /**
   * An issue that stops asking for aiworker (closed, unassigned from the bot, its label removed)
   * takes its task back only while no work started on it: a task still in `backlog` is cancelled;
   * one an agent already took stays, since its branch and PR are the work. True when cancelled.
   */
  cancelUnstarted(taskId: number, opts: { actor: string; reason: string; deliveryId: string }): Promise<boolean> {
    return this.writer.withTask(taskId, async (tx, row) => {
      if (row.state !== 'backlog') return false;
      await this.writer.apply(tx, row, 'cancelled', { source: 'gitea', ...opts });
      return true;
    });
  }

  /** The task's branch and pull request, as an agent opened them. */
  linkPull(taskId: number, link: { branch?: string; prNumber?: number; prUrl?: string }): Promise<void> {
    const columns = { branch: link.branch, pr_number: link.prNumber, pr_url: link.prUrl };
    return this.writeColumns(taskId, Object.fromEntries(Object.entries(columns).filter(([, v]) => v !== undefined)));
  }

  /** The task's preview is gone (torn down or expired): its URL is no longer shown. */
  previewGone(taskId: number): Promise<void> {
    return this.writeColumns(taskId, { preview_url: null });
  }

  /** The PR comment about the preview, edited on every deploy. */
  recordPreviewComment(taskId: number, commentId: number): Promise<void> {
    return this.writeColumns(taskId, { preview_comment_id: commentId });
  }

  /** The preview comment's id, for editing it. */
  async previewCommentId(taskId: number): Promise<number | null> {
    const row = await this.db<TaskRow>('tasks').where({ id: taskId }).first('preview_comment_id');
    return row?.preview_comment_id == null ? null : Number(row.preview_comment_id);
  }

  private writeColumns(taskId: number, columns: Partial<TaskRow>): Promise<void> {
    return this.writer.withTask(taskId, (tx, row) => this.writer.writeColumns(tx, row, columns));
  }
}
