import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { validate } from '../validate.js';
import { pageQuery } from '../../pagination.js';
import { TASK_STATES } from '../../tasks/states.js';
import type { TaskService } from '../../tasks/service.js';
import type { ProjectService } from '../../projects/service.js';
import { access } from '../../access/rights.js';
import { notFound } from '../../errors.js';
import { idParam } from './projects.js';
import { route } from '../openapi.js';
import { page, task, taskDetail, taskEvent } from '../shapes.js';

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
  route(router, 'post', '/api/tasks', {
    summary: 'Create a task in backlog',
    body: newTask,
    answers: { 201: { description: 'the task', body: task } },
    errors: [400, 404],
  }, async (ctx) => {
    const input = validate(newTask, ctx.request.body);
    await access(ctx).on((await deps.projects.get(input.projectId)).repo);
    ctx.status = 201;
    ctx.body = await deps.tasks.create({ ...input, actor: access(ctx).actor });
  });
  route(router, 'get', '/api/tasks', {
    summary: 'List tasks, of a project and in a state when asked',
    query: listQuery,
    answers: { 200: { description: 'a page of tasks', body: page('tasks', task) } },
    errors: [400],
  }, async (ctx) => {
    const q = validate(listQuery, ctx.query, 'query');
    if (q.projectId !== undefined) {
      await access(ctx).on((await deps.projects.get(q.projectId)).repo);
      ctx.body = await deps.tasks.list({ projectId: q.projectId, state: q.state }, q);
      return;
    }
    const readable = await access(ctx).readableProjectIds();
    ctx.body = await deps.tasks.list({ projectIds: readable ?? undefined, state: q.state }, q);
  });
  route(router, 'get', '/api/tasks/:id', {
    summary: 'Get a task with its questions and review feedback',
    params: { id: idParam },
    answers: { 200: { description: 'the task', body: taskDetail } },
    errors: [400, 404],
  }, async (ctx) => {
    ctx.body = await deps.tasks.get(await permittedTask(ctx));
  });
  route(router, 'patch', '/api/tasks/:id', {
    summary: 'Change a task: title, description, or state (a move the state machine allows REST to make)',
    params: { id: idParam },
    body: taskChanges,
    answers: { 200: { description: 'the task', body: taskDetail } },
    errors: [400, 404, 409],
  }, async (ctx) => {
    const id = await permittedTask(ctx);
    const changes = validate(taskChanges, ctx.request.body);
    await deps.tasks.update(id, changes, access(ctx).actor);
    ctx.body = await deps.tasks.get(id);
  });
  route(router, 'post', '/api/tasks/:id/respond', {
    summary: "Answer the agent's open question (needs_input → in_progress)",
    params: { id: idParam },
    body: respondBody,
    answers: { 200: { description: 'the task', body: taskDetail } },
    errors: [400, 404, 409],
  }, async (ctx) => {
    const id = await permittedTask(ctx);
    const { response } = validate(respondBody, ctx.request.body);
    await deps.tasks.answer(id, response, { actor: access(ctx).actor, source: 'rest' });
    ctx.body = await deps.tasks.get(id);
  });
  route(router, 'get', '/api/tasks/:id/events', {
    summary: "The task's history, oldest first, its creation included",
    params: { id: idParam },
    query: pageQuery,
    answers: { 200: { description: 'a page of events', body: page('events', taskEvent) } },
    errors: [400, 404],
  }, async (ctx) => {
    const id = await permittedTask(ctx);
    ctx.body = await deps.tasks.events(id, validate(pageQuery, ctx.query, 'query'));
  });
  return router;
}
