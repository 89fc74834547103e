import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Cache } from '../../src/cache.js';
import { RedisFeedPublisher } from '../../src/feed/publisher.js';
import { TaskService } from '../../src/tasks/service.js';
import { ProjectService } from '../../src/projects/service.js';
import { AgentService } from '../../src/agents/service.js';
import { GiteaClient } from '../../src/gitea/client.js';
import { Replier } from '../../src/gitea/replies.js';
import { createApp } from '../../src/http/app.js';
import { projectRoutes } from '../../src/http/routes/projects.js';
import { taskRoutes } from '../../src/http/routes/tasks.js';
import { agentRoutes } from '../../src/http/routes/agents.js';
import { AnswerWaiter, RedisAnswerNotifier } from '../../src/mcp/answers.js';
import { mcpRoutes } from '../../src/mcp/http.js';
import type { McpDeps } from '../../src/mcp/server.js';
import { REDIS_URL, startTestService, TEST_API_TOKEN, type TestService } from './service.js';

/** The Gitea the fixtures name; tests answer it with nock. */
export const GITEA_URL = 'https://gitea.example.com';
export const GITEA_TOKEN = 'gitea-test-token';

export interface McpHarness {
  svc: TestService;
  /** Serves /mcp and the REST routes the MCP tests use (projects, tasks, agents). */
  url: string;
  deps: McpDeps;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  createAgent(name: string): Promise<{ id: number; name: string; token: string }>;
  /** An SDK client connected to /mcp over Streamable HTTP with the agent's token. */
  connect(token: string): Promise<Client>;
  close(): Promise<void>;
}

/**
 * A test service (own MySQL database and Redis prefix) plus a Koa app that mounts the MCP routes
 * next to the REST routes, with a TaskService that publishes answers, as src/main.ts wires them.
 */
export async function startMcpHarness(env: Record<string, string> = {}): Promise<McpHarness> {
  const svc = await startTestService(env);
  const { db, redis, log, config, metrics } = svc;
  const prefix = config.redisPrefix;
  const cache = new Cache(redis, prefix, log);
  const feed = new RedisFeedPublisher(redis, prefix, log);
  const tasks = new TaskService({ db, cache, feed, answers: new RedisAnswerNotifier(redis, prefix, log) });
  const projects = new ProjectService({ db, cache });
  const agents = new AgentService({ db, cache, feed });
  const answers = new AnswerWaiter({ redisUrl: REDIS_URL, prefix, log });
  const gitea = new GiteaClient({ baseUrl: GITEA_URL, token: GITEA_TOKEN, retries: 0, timeoutMs: 2000 });
  const deps: McpDeps = {
    tasks,
    projects,
    agents,
    jobs: svc.jobs,
    replies: new Replier({ api: gitea, log }),
    gitea,
    cluster: null,
    config,
    answers,
    log,
  };
  const app = createApp({
    log,
    metrics,
    apiToken: TEST_API_TOKEN,
    publicRoutes: [mcpRoutes(deps)],
    apiRoutes: [projectRoutes({ projects }), taskRoutes({ tasks }), agentRoutes({ agents })],
  });
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients: Client[] = [];

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${TEST_API_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };

  return {
    svc,
    url,
    deps,
    api,
    async createAgent(name) {
      const res = await api('POST', '/api/agents', { name });
      if (res.status !== 201) throw new Error(`agent not created: ${JSON.stringify(res.body)}`);
      return res.body;
    },
    async connect(token) {
      const client = new Client({ name: 'aiworker-test', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
      );
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.allSettled(clients.map((c) => c.close()));
      await answers.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await svc.cleanup();
    },
  };
}

/** Calls a tool; returns its structured result, or throws with the tool error's text. */
export async function callTool(client: Client, name: string, args: Record<string, unknown> = {}): Promise<any> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  const text = result.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
  if (result.isError) throw new ToolCallError(text);
  return result.structuredContent;
}

/** Calls a tool that must fail; returns the tool error's text. */
export async function toolError(client: Client, name: string, args: Record<string, unknown> = {}): Promise<string> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  if (!result.isError) throw new Error(`${name} succeeded where an error was expected: ${JSON.stringify(result.structuredContent)}`);
  return result.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
}

export class ToolCallError extends Error {}
