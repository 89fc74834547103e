import Router from '@koa/router';
import { z } from 'zod';
import { validate } from '../validate.js';
import { pageQuery } from '../../pagination.js';
import { DEPLOYMENT_ENVIRONMENTS, type DeploymentStore } from '../../deployments/store.js';
import { idParam } from './projects.js';
import { route } from '../openapi.js';
import { deployment, page } from '../shapes.js';
import { access } from '../../access/rights.js';
import type { ProjectService } from '../../projects/service.js';

const listQuery = pageQuery.extend({
  projectId: z.coerce.number().int().positive().optional(),
  taskId: z.coerce.number().int().positive().optional(),
  environment: z.enum(DEPLOYMENT_ENVIRONMENTS).optional(),
});

export function deploymentRoutes(deps: { deployments: DeploymentStore; projects: ProjectService }): Router {
  const router = new Router();
  route(router, 'get', '/api/deployments', {
    summary: 'List previews, teardowns and environment syncs',
    query: listQuery,
    answers: { 200: { description: 'a page of deployments', body: page('deployments', deployment) } },
    errors: [400],
  }, async (ctx) => {
    const q = validate(listQuery, ctx.query, 'query');
    const readable = await access(ctx).readableProjectIds();
    ctx.body = await deps.deployments.list({ projectId: q.projectId, projectIds: readable ?? undefined, taskId: q.taskId, environment: q.environment }, q);
  });
  route(router, 'get', '/api/deployments/:id', {
    summary: 'Get a deployment with the manifests it rendered',
    params: { id: idParam },
    answers: { 200: { description: 'the deployment', body: deployment } },
    errors: [400, 404],
  }, async (ctx) => {
    const deployment = await deps.deployments.get(validate(idParam, ctx.params.id, 'deployment id'));
    await access(ctx).on((await deps.projects.get(deployment.projectId)).repo);
    ctx.body = deployment;
  });
  return router;
}
