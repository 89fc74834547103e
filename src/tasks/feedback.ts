import type { Knex } from 'knex';
import { gens, type Cache } from '../cache.js';
import type { Tx } from './unit-of-work.js';

/** A line comment of a review, as the agent reads it. */
export interface ReviewLineComment {
  path: string;
  /** The line in the new file; for a comment on a removed line, the line in the old one. */
  line: number;
  body: string;
}

export interface NewFeedback {
  kind: string;
  author: string | null;
  body: string;
  deliveryId?: string | null;
  /** The head commit it was given at. */
  headSha?: string | null;
}

/** Kinds of feedback that ask for changes at the head they were given at. */
const CHANGES_REQUESTED: readonly string[] = ['changes_requested', 'rejected'];

/**
 * Review feedback for agents: the review's text first, its line comments once fetched from Gitea
 * (the review webhook carries neither the review's id nor its comments).
 */
export class FeedbackStore {
  constructor(private readonly deps: { db: Knex; cache: Cache }) {}

  /** Stores feedback once per delivery; its id, whether this call or an earlier one stored it. */
  async add(taskId: number, fb: NewFeedback): Promise<number> {
    const row = { task_id: taskId, kind: fb.kind, author: fb.author, body: fb.body, delivery_id: fb.deliveryId ?? null, head_sha: fb.headSha ?? null };
    await this.deps.db('task_feedback').insert(row).onConflict(['task_id', 'delivery_id']).ignore();
    await this.deps.cache.bump([gens.task(taskId)]);
    const stored = fb.deliveryId
      ? await this.deps.db('task_feedback').where({ task_id: taskId, delivery_id: fb.deliveryId }).first('id')
      : await this.deps.db('task_feedback').where({ task_id: taskId }).orderBy('id', 'desc').first('id');
    return Number(stored.id);
  }

  /** What a delivery (or a job, by its id) stored for the task, if anything. */
  async of(taskId: number, deliveryId: string): Promise<{ kind: string; body: string; headSha: string | null } | null> {
    const row = await this.deps.db('task_feedback').where({ task_id: taskId, delivery_id: deliveryId }).first('kind', 'body', 'head_sha');
    return row ? { kind: row.kind, body: row.body, headSha: row.head_sha } : null;
  }

  async get(id: number): Promise<{ id: number; taskId: number; kind: string; author: string | null; body: string; commentsFetched: boolean } | null> {
    const row = await this.deps.db('task_feedback').where({ id }).first();
    if (!row) return null;
    return { id: row.id, taskId: row.task_id, kind: row.kind, author: row.author, body: row.body, commentsFetched: row.comments_fetched_at !== null };
  }

  /** Review ids already attached to other feedback of the task, so one review is never given twice. */
  async attachedReviews(taskId: number, exceptFeedbackId: number): Promise<Set<number>> {
    const rows = await this.deps.db('task_feedback').where({ task_id: taskId }).whereNot({ id: exceptFeedbackId }).whereNotNull('review_id').select('review_id');
    return new Set(rows.map((r: { review_id: number | string }) => Number(r.review_id)));
  }

  async attachComments(id: number, reviewId: number | null, comments: ReviewLineComment[]): Promise<void> {
    const row = await this.deps.db('task_feedback').where({ id }).first('task_id');
    await this.deps.db('task_feedback')
      .where({ id })
      .update({ review_id: reviewId, comments: JSON.stringify(comments), comments_fetched_at: new Date() });
    if (row) await this.deps.cache.bump([gens.task(row.task_id)]);
  }
}

/** Changes were asked for at this head (a review or /reject): its preview does not make the task ready to test. */
export async function changesRequestedAt(tx: Tx, taskId: number, sha: string): Promise<boolean> {
  return !!(await tx.trx('task_feedback').where({ task_id: taskId, head_sha: sha }).whereIn('kind', CHANGES_REQUESTED).first('id'));
}
