import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { readJsonBody } from '../body.js';
import { validate } from '../validate.js';
import { pageQuery } from '../../pagination.js';
import { TASK_STATES } from '../../tasks/states.js';
import type { TaskService } from '../../tasks/service.js';
import type { ProjectService } from '../../projects/service.js';
import { access } from '../../access/rights.js';
import { notFound } from '../../errors.js';
import { idParam } from './projects.js';

const newTask = z.object({
  projectId: z.number().int().positive(),
  title: z.string().trim().min(1).max(500),
  description: z.string().max(65535).nullable().optional(),
});

const taskChanges = z
  .object({
    title: z.string().trim().min(1).max(500).optional(),
    description: z.string().max(65535).nullable().optional(),
    state: z.enum(TASK_STATES).optional(),
  })
  .strict()
  .refine((v) => Object.keys(v).length > 0, 'give at least one of title, description, state');

const listQuery = pageQuery.extend({
  projectId: z.coerce.number().int().positive().optional(),
  state: z.enum(TASK_STATES).optional(),
});

const respondBody = z.object({ response: z.string().trim().min(1).max(65535) });

export function taskRoutes(deps: { tasks: TaskService; projects: ProjectService }): Router {
  const router = new Router();
  /** The task's id, once the caller is known to have the route's permission on its project. */
  const permittedTask = async (ctx: Context) => {
    const id = validate(idParam, ctx.params.id, 'task id');
    const task = await deps.tasks.find(id);
    if (!task) throw notFound(`task ${id}`);
    await access(ctx).on((await deps.projects.get(task.projectId)).repo);
    return id;
  };
  router.post('/api/tasks', async (ctx) => {
    const input = validate(newTask, await readJsonBody(ctx));
    await access(ctx).on((await deps.projects.get(input.projectId)).repo);
    ctx.status = 201;
    ctx.body = await deps.tasks.create({ ...input, actor: access(ctx).actor });
  });
  router.get('/api/tasks', async (ctx) => {
    const q = validate(listQuery, ctx.query, 'query');
    if (q.projectId !== undefined) {
      await access(ctx).on((await deps.projects.get(q.projectId)).repo);
      ctx.body = await deps.tasks.list({ projectId: q.projectId, state: q.state }, q);
      return;
    }
    const readable = await access(ctx).readableProjectIds();
    ctx.body = await deps.tasks.list({ projectIds: readable ?? undefined, state: q.state }, q);
  });
  router.get('/api/tasks/:id', async (ctx) => {
    ctx.body = await deps.tasks.get(await permittedTask(ctx));
  });
  router.patch('/api/tasks/:id', async (ctx) => {
    const id = await permittedTask(ctx);
    const changes = validate(taskChanges, await readJsonBody(ctx));
    await deps.tasks.update(id, changes, access(ctx).actor);
    ctx.body = await deps.tasks.get(id);
  });
  router.post('/api/tasks/:id/respond', async (ctx) => {
    const id = await permittedTask(ctx);
    const { response } = validate(respondBody, await readJsonBody(ctx));
    await deps.tasks.answer(id, response, { actor: access(ctx).actor, source: 'rest' });
    ctx.body = await deps.tasks.get(id);
  });
  router.get('/api/tasks/:id/events', async (ctx) => {
    const id = await permittedTask(ctx);
    ctx.body = await deps.tasks.events(id, validate(pageQuery, ctx.query, 'query'));
  });
  return router;
}
