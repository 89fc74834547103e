import type { Knex } from 'knex';
import type { Page } from '../pagination.js';
import { jsonColumn as json } from '../db/json.js';

export type MergeRunKind = 'staging' | 'promotion';

/**
 * `queued` until the job holds the project's merge lock, then `running`; it ends `succeeded`
 * (everything asked for is merged), `conflicts` (some PRs could not be merged), `nothing_to_do`
 * or `failed` (the job gave up; `error` says why).
 */
export type MergeRunStatus = 'queued' | 'running' | 'succeeded' | 'conflicts' | 'nothing_to_do' | 'failed';

/** A merged PR: a task's PR in a staging train, or the promotion PR with the tasks it carried. */
export interface MergedEntry {
  prNumber: number;
  taskId?: number;
  taskIds?: number[];
}

export interface ConflictEntry {
  prNumber: number;
  taskId?: number;
  reason: string;
}

export interface SkippedEntry {
  taskId: number;
  prNumber: number | null;
  reason: string;
}

export interface MergeRun {
  id: number;
  projectId: number;
  kind: MergeRunKind;
  jobId: string;
  status: MergeRunStatus;
  requestedBy: string | null;
  taskIds: number[];
  merged: MergedEntry[];
  conflicts: ConflictEntry[];
  skipped: SkippedEntry[];
  revision: string | null;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
}

interface MergeRunRow {
  id: number;
  project_id: number;
  kind: MergeRunKind;
  job_id: string;
  status: MergeRunStatus;
  requested_by: string | null;
  task_ids: string | number[];
  merged: string | MergedEntry[];
  conflicts: string | ConflictEntry[];
  skipped: string | SkippedEntry[];
  revision: string | null;
  error: string | null;
  created_at: Date;
  finished_at: Date | null;
}

export interface MergeOutcome {
  status: Exclude<MergeRunStatus, 'queued' | 'running' | 'failed'>;
  merged: MergedEntry[];
  conflicts: ConflictEntry[];
  skipped: SkippedEntry[];
  revision: string | null;
  /** Why nothing was done, when that is worth saying. */
  note?: string | null;
  /** The tasks the run turned out to be about, when the request could not name them (a promotion). */
  taskIds?: number[];
}

// MariaDB's JSON is LONGTEXT underneath: values come back as strings.

function toMergeRun(r: MergeRunRow): MergeRun {
  return {
    id: r.id,
    projectId: r.project_id,
    kind: r.kind,
    jobId: r.job_id,
    status: r.status,
    requestedBy: r.requested_by,
    taskIds: json(r.task_ids),
    merged: json(r.merged),
    conflicts: json(r.conflicts),
    skipped: json(r.skipped),
    revision: r.revision,
    error: r.error,
    createdAt: new Date(r.created_at).toISOString(),
    finishedAt: r.finished_at ? new Date(r.finished_at).toISOString() : null,
  };
}

/** The history of merge trains and promotions, one row per job, visible through the REST API. */
export class MergeRunStore {
  constructor(private readonly db: Knex) {}

  /** Records a job the first time a worker sees it; a retried or delayed job keeps its row. */
  async open(o: { projectId: number; kind: MergeRunKind; jobId: string; requestedBy: string | null; taskIds: number[] }): Promise<void> {
    await this.db('merge_runs')
      .insert({
        project_id: o.projectId,
        kind: o.kind,
        job_id: o.jobId,
        status: 'queued',
        requested_by: o.requestedBy,
        task_ids: JSON.stringify(o.taskIds),
        merged: '[]',
        conflicts: '[]',
        skipped: '[]',
      })
      .onConflict('job_id')
      .ignore();
  }

  async start(jobId: string): Promise<void> {
    await this.db('merge_runs').where({ job_id: jobId }).update({ status: 'running', error: null, finished_at: null });
  }

  async finish(jobId: string, outcome: MergeOutcome): Promise<void> {
    await this.db('merge_runs')
      .where({ job_id: jobId })
      .update({
        status: outcome.status,
        merged: JSON.stringify(outcome.merged),
        conflicts: JSON.stringify(outcome.conflicts),
        skipped: JSON.stringify(outcome.skipped),
        revision: outcome.revision,
        error: outcome.note ?? null,
        ...(outcome.taskIds ? { task_ids: JSON.stringify(outcome.taskIds) } : {}),
        finished_at: new Date(),
      });
  }

  /** An attempt failed: `failed` once the job gives up, otherwise still `running` with the error shown. */
  async recordError(jobId: string, message: string, final: boolean): Promise<void> {
    await this.db('merge_runs')
      .where({ job_id: jobId })
      .update({ error: message, ...(final ? { status: 'failed', finished_at: new Date() } : {}) });
  }

  async get(jobId: string): Promise<MergeRun | null> {
    const row = await this.db<MergeRunRow>('merge_runs').where({ job_id: jobId }).first();
    return row ? toMergeRun(row) : null;
  }

  /** Newest first. */
  async list(projectId: number, page: Page): Promise<{ merges: MergeRun[]; total: number }> {
    const base = this.db<MergeRunRow>('merge_runs').where({ project_id: projectId });
    const [rows, [{ total }]] = await Promise.all([
      base.clone().orderBy('id', 'desc').limit(page.limit).offset(page.offset),
      base.clone().count({ total: '*' }),
    ]);
    return { merges: (rows as MergeRunRow[]).map(toMergeRun), total: Number(total) };
  }
}
