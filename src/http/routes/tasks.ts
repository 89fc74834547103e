import Router from '@koa/router';
import { z } from 'zod';
import { readJsonBody } from '../body.js';
import { validate } from '../validate.js';
import { pageQuery } from '../../pagination.js';
import { TASK_STATES } from '../../tasks/states.js';
import type { TaskService } from '../../tasks/service.js';
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

export function taskRoutes(deps: { tasks: TaskService }): Router {
  const router = new Router();
  router.post('/api/tasks', async (ctx) => {
    const input = validate(newTask, await readJsonBody(ctx));
    ctx.status = 201;
    ctx.body = await deps.tasks.create({ ...input, actor: 'api' });
  });
  router.get('/api/tasks', async (ctx) => {
    const q = validate(listQuery, ctx.query, 'query');
    ctx.body = await deps.tasks.list({ projectId: q.projectId, state: q.state }, q);
  });
  router.get('/api/tasks/:id', async (ctx) => {
    ctx.body = await deps.tasks.get(validate(idParam, ctx.params.id, 'task id'));
  });
  router.patch('/api/tasks/:id', async (ctx) => {
    const id = validate(idParam, ctx.params.id, 'task id');
    const changes = validate(taskChanges, await readJsonBody(ctx));
    await deps.tasks.update(id, changes, 'api');
    ctx.body = await deps.tasks.get(id);
  });
  router.post('/api/tasks/:id/respond', async (ctx) => {
    const id = validate(idParam, ctx.params.id, 'task id');
    const { response } = validate(respondBody, await readJsonBody(ctx));
    await deps.tasks.answer(id, response, { actor: 'api', source: 'rest' });
    ctx.body = await deps.tasks.get(id);
  });
  router.get('/api/tasks/:id/events', async (ctx) => {
    const id = validate(idParam, ctx.params.id, 'task id');
    ctx.body = await deps.tasks.events(id, validate(pageQuery, ctx.query, 'query'));
  });
  return router;
}
