import Router from '@koa/router';
import { z } from 'zod';
import { validate } from '../validate.js';
import { idParam } from './projects.js';
import { pageQuery } from '../../pagination.js';
import type { AgentService } from '../../agents/service.js';
import { route } from '../openapi.js';
import { agent, createdAgent, page } from '../shapes.js';

const newAgent = z.object({ name: z.string().trim().min(1).max(200) });

export function agentRoutes(deps: { agents: AgentService }): Router {
  const router = new Router();
  route(router, 'post', '/api/agents', {
    summary: 'Register an agent and issue its MCP token',
    body: newAgent,
    answers: { 201: { description: 'the agent and its token, shown this once', body: createdAgent } },
    errors: [400],
  }, async (ctx) => {
    const { name } = validate(newAgent, ctx.request.body);
    ctx.status = 201;
    ctx.body = await deps.agents.create(name);
  });
  // Revokes the agent's token (refused everywhere within AGENT_TOKEN_CACHE_SECONDS); idempotent.
  route(router, 'delete', '/api/agents/:id', {
    summary: "Revoke an agent's token (idempotent)",
    params: { id: idParam },
    answers: { 200: { description: 'the agent', body: agent } },
    errors: [400, 404],
  }, async (ctx) => {
    const id = validate(idParam, ctx.params.id, 'agent id');
    ctx.body = await deps.agents.revoke(id, 'api');
  });
  route(router, 'get', '/api/agents', {
    summary: 'List agents with their status and current task',
    query: pageQuery,
    answers: { 200: { description: 'a page of agents', body: page('agents', agent) } },
    errors: [400],
  }, async (ctx) => {
    ctx.body = await deps.agents.list(validate(pageQuery, ctx.query, 'query'));
  });
  return router;
}
