import Router from '@koa/router';
import { z } from 'zod';
import { readJsonBody } from '../body.js';
import { validate } from '../validate.js';
import { idParam } from './projects.js';
import { pageQuery } from '../../pagination.js';
import type { AgentService } from '../../agents/service.js';

const newAgent = z.object({ name: z.string().trim().min(1).max(200) });

export function agentRoutes(deps: { agents: AgentService }): Router {
  const router = new Router();
  router.post('/api/agents', async (ctx) => {
    const { name } = validate(newAgent, await readJsonBody(ctx));
    ctx.status = 201;
    ctx.body = await deps.agents.create(name);
  });
  // Revokes the agent's token (refused everywhere within AGENT_TOKEN_CACHE_SECONDS); idempotent.
  router.delete('/api/agents/:id', async (ctx) => {
    const id = validate(idParam, ctx.params.id, 'agent id');
    ctx.body = await deps.agents.revoke(id, 'api');
  });
  router.get('/api/agents', async (ctx) => {
    ctx.body = await deps.agents.list(validate(pageQuery, ctx.query, 'query'));
  });
  return router;
}
