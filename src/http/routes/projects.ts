import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { validate } from '../validate.js';
import { badRequest } from '../../errors.js';
import { pageQuery } from '../../pagination.js';
import { MERGE_STYLES, type Project, type ProjectService } from '../../projects/service.js';
import type { WebhookRegistrar } from '../../projects/webhook.js';
import { route } from '../openapi.js';
import { createdProject, page, project as projectAnswer, webhookState } from '../shapes.js';
import { access, type RequestAccess } from '../../access/rights.js';

/** Whether a JSON value nests at most `levels` deep; stops descending there, so any depth is safe to ask about. */
function nestsAtMost(value: unknown, levels: number): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (levels === 0) return false;
  return Object.values(value).every((v) => nestsAtMost(v, levels - 1));
}

const branch = z.string().min(1).max(255).regex(/^[^\s~^:?*[\\]+$/, 'must be a valid branch name');

const newProject = z.object({
  name: z.string().trim().min(1).max(200),
  repo: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'must be "owner/name"'),
  defaultBranch: branch.optional(),
  stagingBranch: branch.optional(),
  previewImage: z.string().min(1).max(500).nullable().optional(),
  argocdApplication: z.string().min(1).max(253).nullable().optional(),
  argocdProductionApplication: z.string().min(1).max(253).nullable().optional(),
  mergeStyle: z.enum(MERGE_STYLES).optional(),
  // Stored in a JSON column, which refuses documents nested more than 32 deep (and serialising a far deeper one overflows the stack).
  previewSettings: z.record(z.string(), z.unknown()).refine((v) => nestsAtMost(v, 8), 'must not nest more than 8 levels deep').optional(),
});

export const idParam = z.coerce.number().int().positive();

/** The project the path's `:id` names, once the caller may act on it as the route requires (404, 403 otherwise). */
export async function permittedProject(projects: Pick<ProjectService, 'get'>, ctx: Context): Promise<Project> {
  const project = await projects.get(validate(idParam, ctx.params.id, 'project id'));
  await access(ctx).on(project.repo);
  return project;
}

/** A project as answered to a person carries what they may do on it (the board shows only what they may). */
async function withPermissions(request: RequestAccess, project: Project) {
  return request.caller.kind === 'person' ? { ...project, permissions: await request.permissionsOn(project.repo) } : project;
}

export function projectRoutes(deps: { projects: ProjectService; webhooks: Pick<WebhookRegistrar, 'ensure'> }): Router {
  const router = new Router();
  route(router, 'post', '/api/projects', {
    summary: 'Create a project (one Gitea repository) and make sure its Gitea webhook is in place',
    description: 'Takes API_TOKEN or admin permission on the repository. The project is created whatever Gitea answers; `webhook` says how registering its webhook fared.',
    body: newProject,
    answers: { 201: { description: 'the project, with its webhook', body: createdProject } },
    errors: [400, 409],
  }, async (ctx) => {
    const input = validate(newProject, ctx.request.body);
    if (input.defaultBranch && input.stagingBranch && input.defaultBranch === input.stagingBranch) {
      throw badRequest('invalid body: stagingBranch: must differ from defaultBranch');
    }
    await access(ctx).on(input.repo);
    const project = await deps.projects.create(input);
    // The project stands whatever Gitea says; the answer says how its webhook fared.
    ctx.status = 201;
    ctx.body = { ...project, webhook: await deps.webhooks.ensure(project) };
  });
  route(router, 'post', '/api/projects/:id/webhook', {
    summary: "Check and repair the project's Gitea webhook (idempotent)",
    params: { id: idParam },
    answers: { 200: { description: 'the webhook as Gitea now has it, or why it is not in place', body: webhookState } },
    errors: [400, 404],
  }, async (ctx) => {
    const project = await permittedProject(deps.projects, ctx);
    ctx.body = await deps.webhooks.ensure(project);
  });
  route(router, 'get', '/api/projects', {
    summary: 'List the projects the caller can read',
    query: pageQuery,
    answers: { 200: { description: 'a page of projects', body: page('projects', projectAnswer) } },
    errors: [400],
  }, async (ctx) => {
    const page = validate(pageQuery, ctx.query, 'query');
    const request = access(ctx);
    const readable = await request.readableProjects();
    if (!readable) {
      ctx.body = await deps.projects.list(page);
      return;
    }
    const projects = await Promise.all(readable.slice(page.offset, page.offset + page.limit).map((p) => withPermissions(request, p)));
    ctx.body = { projects, total: readable.length };
  });
  route(router, 'get', '/api/projects/:id', {
    summary: 'Get a project',
    params: { id: idParam },
    answers: { 200: { description: 'the project', body: projectAnswer } },
    errors: [400, 404],
  }, async (ctx) => {
    const project = await permittedProject(deps.projects, ctx);
    ctx.body = await withPermissions(access(ctx), project);
  });
  return router;
}
