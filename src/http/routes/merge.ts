import Router from '@koa/router';
import { z } from 'zod';
import { validate } from '../validate.js';
import { AppError, badRequest, conflict, unavailable } from '../../errors.js';
import { pageQuery } from '../../pagination.js';
import type { MergeRunStore } from '../../merges/runs.js';
import type { ProjectService } from '../../projects/service.js';
import type { JobScheduler } from '../../queue/scheduler.js';
import type { TaskService } from '../../tasks/service.js';
import { idParam, permittedProject } from './projects.js';
import { route } from '../openapi.js';
import { jobQueued, mergeRun, page } from '../shapes.js';
import { access } from '../../access/rights.js';

const mergeBody = z.object({
  taskIds: z.array(z.number().int().positive()).min(1).max(100),
});

const list = (ids: number[]) => ids.join(', ');

/** Nothing durable stands behind these requests but the queue: without Redis, the caller must try again. */
async function queued(add: () => Promise<string>): Promise<string> {
  try {
    return await add();
  } catch (err) {
    throw unavailable(`the job queue is unreachable, nothing was queued: ${(err as Error).message}`);
  }
}

/** Staging merge trains, promotions and their history (SPEC §7). */
export function mergeRoutes(deps: { tasks: TaskService; projects: ProjectService; jobs: JobScheduler; runs: MergeRunStore }): Router {
  const router = new Router();

  route(router, 'post', '/api/merge', {
    summary: "Merge approved tasks' pull requests into the staging branch (a merge train, in approval order)",
    body: mergeBody,
    answers: { 202: { description: 'the merge train is queued', body: jobQueued } },
    errors: [400, 404, 409, 503],
  }, async (ctx) => {
    const taskIds = [...new Set(validate(mergeBody, ctx.request.body).taskIds)];
    const found = await Promise.all(taskIds.map((id) => deps.tasks.find(id)));
    const missing = taskIds.filter((_, i) => !found[i]);
    if (missing.length) {
      throw new AppError(404, 'not_found', `task${missing.length > 1 ? 's' : ''} ${list(missing)} not found`, { taskIds: missing });
    }
    const tasks = found.map((t) => t!);
    const projectIds = [...new Set(tasks.map((t) => t.projectId))];
    if (projectIds.length > 1) {
      throw badRequest(`the tasks belong to projects ${list(projectIds)}: a merge train merges the tasks of one project`, { projectIds });
    }
    await access(ctx).on((await deps.projects.get(projectIds[0])).repo);
    const notApproved = tasks.filter((t) => t.state !== 'approved');
    if (notApproved.length) {
      const which = notApproved.map((t) => `task ${t.id} is ${t.state}`).join(', ');
      throw conflict(`only approved tasks can be merged into staging: ${which}`, { taskIds: notApproved.map((t) => t.id) });
    }
    const jobId = await queued(() => deps.jobs.mergeTrain(projectIds[0], taskIds, access(ctx).actor));
    ctx.status = 202;
    ctx.body = { jobId };
  });

  route(router, 'post', '/api/projects/:id/promote', {
    summary: 'Promote staging to the default branch (opens or reuses the promotion pull request and merges it)',
    params: { id: idParam },
    answers: { 202: { description: 'the promotion is queued', body: jobQueued } },
    errors: [400, 404, 503],
  }, async (ctx) => {
    const project = await permittedProject(deps.projects, ctx);
    const jobId = await queued(() => deps.jobs.promote(project.id, access(ctx).actor));
    ctx.status = 202;
    ctx.body = { jobId };
  });

  route(router, 'get', '/api/projects/:id/merges', {
    summary: "The project's merge trains and promotions, with what merged, conflicted or was skipped",
    params: { id: idParam },
    query: pageQuery,
    answers: { 200: { description: 'a page of merge runs', body: page('merges', mergeRun) } },
    errors: [400, 404],
  }, async (ctx) => {
    const project = await permittedProject(deps.projects, ctx);
    ctx.body = await deps.runs.list(project.id, validate(pageQuery, ctx.query, 'query'));
  });

  return router;
}
