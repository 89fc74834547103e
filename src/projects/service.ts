import type { Knex } from 'knex';
import { CACHE_TTL, gens, type Cache } from '../cache.js';
import { conflict, notFound } from '../errors.js';
import type { Page } from '../pagination.js';
import { jsonColumn } from '../db/json.js';

export const MERGE_STYLES = ['merge', 'rebase', 'rebase-merge', 'squash', 'fast-forward-only'] as const;
export type MergeStyle = (typeof MERGE_STYLES)[number];

export interface ProjectRow {
  id: number;
  name: string;
  repo: string;
  default_branch: string;
  staging_branch: string;
  preview_image: string | null;
  argocd_application: string | null;
  argocd_production_application: string | null;
  merge_style: MergeStyle;
  preview_settings: string | Record<string, unknown> | null;
  created_at: Date;
  updated_at: Date;
}

export interface Project {
  id: number;
  name: string;
  repo: string;
  owner: string;
  repoName: string;
  defaultBranch: string;
  stagingBranch: string;
  previewImage: string | null;
  argocdApplication: string | null;
  argocdProductionApplication: string | null;
  mergeStyle: MergeStyle;
  previewSettings: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

export interface NewProject {
  name: string;
  repo: string;
  defaultBranch?: string;
  stagingBranch?: string;
  previewImage?: string | null;
  argocdApplication?: string | null;
  argocdProductionApplication?: string | null;
  mergeStyle?: MergeStyle;
  previewSettings?: Record<string, unknown>;
}

export function toProject(row: ProjectRow): Project {
  const [owner, repoName] = row.repo.split('/');
  const settings = row.preview_settings === null ? null : jsonColumn(row.preview_settings);
  return {
    id: row.id,
    name: row.name,
    repo: row.repo,
    owner,
    repoName,
    defaultBranch: row.default_branch,
    stagingBranch: row.staging_branch,
    previewImage: row.preview_image,
    argocdApplication: row.argocd_application,
    argocdProductionApplication: row.argocd_production_application,
    mergeStyle: row.merge_style,
    previewSettings: settings ?? {},
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

export class ProjectService {
  constructor(private readonly deps: { db: Knex; cache: Cache }) {}

  async create(input: NewProject): Promise<Project> {
    const { db, cache } = this.deps;
    if (await db('projects').where({ repo: input.repo }).first('id')) {
      throw conflict(`a project for repository ${input.repo} already exists`);
    }
    let id: number;
    try {
      [id] = await db('projects').insert({
        name: input.name,
        repo: input.repo,
        default_branch: input.defaultBranch ?? 'main',
        staging_branch: input.stagingBranch ?? 'staging',
        preview_image: input.previewImage ?? null,
        argocd_application: input.argocdApplication ?? null,
        argocd_production_application: input.argocdProductionApplication ?? null,
        merge_style: input.mergeStyle ?? 'merge',
        preview_settings: input.previewSettings ? JSON.stringify(input.previewSettings) : null,
      });
    } catch (err) {
      if ((err as { code?: string }).code === 'ER_DUP_ENTRY') throw conflict(`a project for repository ${input.repo} already exists`);
      throw err;
    }
    await cache.bump([gens.projects()]);
    return this.get(Number(id));
  }

  async get(id: number): Promise<Project> {
    return this.deps.cache.getOrLoad(`project:${id}`, CACHE_TTL.project, [gens.project(id)], async () => {
      const row = await this.deps.db<ProjectRow>('projects').where({ id }).first();
      if (!row) throw notFound(`project ${id}`);
      return toProject(row);
    });
  }

  async list(page: Page): Promise<{ projects: Project[]; total: number }> {
    return this.deps.cache.getOrLoad(`projects:${page.limit}:${page.offset}`, CACHE_TTL.project, [gens.projects()], async () => {
      const [rows, [{ total }]] = await Promise.all([
        this.deps.db<ProjectRow>('projects').orderBy('id').limit(page.limit).offset(page.offset),
        this.deps.db('projects').count({ total: '*' }),
      ]);
      return { projects: (rows as ProjectRow[]).map(toProject), total: Number(total) };
    });
  }

  /** Gitea repository names are case-insensitive; so is the column's collation. */
  async findByRepo(fullName: string): Promise<Project | null> {
    return this.deps.cache.getOrLoad(`project-repo:${fullName.toLowerCase()}`, CACHE_TTL.project, [gens.projects()], async () => {
      const row = await this.deps.db<ProjectRow>('projects').where({ repo: fullName }).first();
      return row ? toProject(row) : null;
    });
  }
}
