import type { Knex } from 'knex';
import { notFound } from '../errors.js';
import type { Page } from '../pagination.js';
import { jsonColumn as json } from '../db/json.js';

export const DEPLOYMENT_STATUSES = ['pending', 'running', 'succeeded', 'failed'] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

export const DEPLOYMENT_ENVIRONMENTS = ['preview', 'staging', 'production'] as const;
export type DeploymentEnvironment = (typeof DEPLOYMENT_ENVIRONMENTS)[number];

interface DeploymentRow {
  id: number;
  project_id: number;
  task_id: number | null;
  environment: DeploymentEnvironment;
  kind: string;
  status: DeploymentStatus;
  url: string | null;
  commit_sha: string | null;
  task_ids: string | number[];
  manifests: string | null;
  dry_run: number | boolean;
  error: string | null;
  job_id: string | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

/** A deployment as the API shows it; `manifests` only on the single-deployment view. */
export interface Deployment {
  id: number;
  projectId: number;
  taskId: number | null;
  environment: DeploymentEnvironment;
  kind: string;
  status: DeploymentStatus;
  url: string | null;
  commitSha: string | null;
  taskIds: number[];
  dryRun: boolean;
  error: string | null;
  jobId: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  manifests?: unknown[] | null;
}

export interface NewDeployment {
  projectId: number;
  taskId: number | null;
  environment: DeploymentEnvironment;
  kind: string;
  status: DeploymentStatus;
  url?: string | null;
  commitSha?: string | null;
  taskIds: number[];
  /** The objects rendered for this deployment, stored as JSON text. */
  manifests?: unknown[] | null;
  dryRun: boolean;
  error?: string | null;
  jobId?: string | null;
  /** When the work was asked for, if not now (a teardown is dated by its request, so deploys can tell which came first). */
  requestedAt?: Date;
}

export type DeploymentChanges = Partial<Pick<NewDeployment, 'status' | 'url' | 'commitSha' | 'manifests' | 'dryRun' | 'error'>> & {
  finishedAt?: Date | null;
};

export interface DeploymentFilter {
  projectId?: number;
  /** Only these projects' deployments (a person's readable ones). */
  projectIds?: number[];
  taskId?: number;
  environment?: DeploymentEnvironment;
  kind?: string;
}

const iso = (d: Date | null) => (d === null ? null : new Date(d).toISOString());

function toDeployment(r: DeploymentRow, withManifests: boolean): Deployment {
  const d: Deployment = {
    id: r.id,
    projectId: r.project_id,
    taskId: r.task_id,
    environment: r.environment,
    kind: r.kind,
    status: r.status,
    url: r.url,
    commitSha: r.commit_sha,
    taskIds: json<number[]>(r.task_ids),
    dryRun: Boolean(r.dry_run),
    error: r.error,
    jobId: r.job_id,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    finishedAt: iso(r.finished_at),
  };
  if (withManifests) d.manifests = r.manifests === null ? null : json<unknown[]>(r.manifests);
  return d;
}

function columns(c: DeploymentChanges): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  if (c.status !== undefined) row.status = c.status;
  if (c.url !== undefined) row.url = c.url;
  if (c.commitSha !== undefined) row.commit_sha = c.commitSha;
  if (c.manifests !== undefined) row.manifests = c.manifests === null ? null : JSON.stringify(c.manifests);
  if (c.dryRun !== undefined) row.dry_run = c.dryRun;
  if (c.error !== undefined) row.error = c.error;
  if (c.finishedAt !== undefined) row.finished_at = c.finishedAt;
  return row;
}

/**
 * The record of every deploy aiworker ran or rendered (previews, teardowns, environment syncs).
 * Writes take an optional transaction so a job can change a deployment together with its task and feed events.
 */
export class DeploymentStore {
  constructor(private readonly db: Knex) {}

  async create(input: NewDeployment, trx: Knex = this.db): Promise<Deployment> {
    const [id] = await trx('deployments').insert({
      project_id: input.projectId,
      task_id: input.taskId,
      environment: input.environment,
      kind: input.kind,
      status: input.status,
      url: input.url ?? null,
      commit_sha: input.commitSha ?? null,
      task_ids: JSON.stringify(input.taskIds),
      manifests: input.manifests ? JSON.stringify(input.manifests) : null,
      dry_run: input.dryRun,
      error: input.error ?? null,
      job_id: input.jobId ?? null,
      ...(input.requestedAt ? { created_at: input.requestedAt } : {}),
      finished_at: input.status === 'succeeded' || input.status === 'failed' ? new Date() : null,
    });
    return this.load(Number(id), false, trx);
  }

  async update(id: number, changes: DeploymentChanges, trx: Knex = this.db): Promise<Deployment> {
    await trx('deployments')
      .where({ id })
      .update({ ...columns(changes), updated_at: new Date() });
    return this.load(id, false, trx);
  }

  /** With its manifests. */
  async get(id: number): Promise<Deployment> {
    return this.load(id, true, this.db);
  }

  /** The deployment a job recorded, so its retries update one row instead of adding more. */
  async findByJob(jobId: string, kind: string): Promise<Deployment | null> {
    const row = await this.db<DeploymentRow>('deployments').where({ job_id: jobId, kind }).orderBy('id', 'desc').first();
    return row ? toDeployment(row, false) : null;
  }

  async latest(filter: DeploymentFilter): Promise<Deployment | null> {
    const row = await this.filtered(filter).orderBy('id', 'desc').first();
    return row ? toDeployment(row as DeploymentRow, false) : null;
  }

  /** Newest first. */
  async list(filter: DeploymentFilter, page: Page): Promise<{ deployments: Deployment[]; total: number }> {
    const base = this.filtered(filter);
    const [rows, [{ total }]] = await Promise.all([
      base.clone().orderBy('id', 'desc').limit(page.limit).offset(page.offset),
      base.clone().count({ total: '*' }),
    ]);
    return { deployments: (rows as DeploymentRow[]).map((r) => toDeployment(r, false)), total: Number(total) };
  }

  private filtered(filter: DeploymentFilter) {
    return this.db<DeploymentRow>('deployments').modify((q) => {
      if (filter.projectId !== undefined) q.where('project_id', filter.projectId);
      if (filter.projectIds !== undefined) q.whereIn('project_id', filter.projectIds);
      if (filter.taskId !== undefined) q.where('task_id', filter.taskId);
      if (filter.environment !== undefined) q.where('environment', filter.environment);
      if (filter.kind !== undefined) q.where('kind', filter.kind);
    });
  }

  private async load(id: number, withManifests: boolean, trx: Knex): Promise<Deployment> {
    const row = await trx<DeploymentRow>('deployments').where({ id }).first();
    if (!row) throw notFound(`deployment ${id}`);
    return toDeployment(row, withManifests);
  }
}
