import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AnswerWaiter } from '../../src/mcp/answers.js';
import type { McpDeps } from '../../src/mcp/server.js';
import { REDIS_URL, startTestService, TEST_API_TOKEN, type TestService } from './service.js';
import { startGiteaServer, type GiteaServer } from './gitea-server.js';

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
 * A test service (own MySQL database and Redis prefix) for MCP clients; Gitea is the one `env`
 * names (a GiteaServer's `env()`), or none.
 */
export async function startMcpHarness(env: Record<string, string> = {}): Promise<McpHarness> {
  const svc = await startTestService(env, { gitea: { retries: 0, timeoutMs: 2000 } });
  const url = svc.url!;
  const answers = new AnswerWaiter({ redisUrl: REDIS_URL, prefix: svc.config.redisPrefix, log: svc.log });
  const deps: McpDeps = { ...svc.deps, answers };
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
      await svc.cleanup();
    },
  };
}

/** An agent at work: the MCP harness on the stand-in Gitea, the acme/webapp project, the agent's client. */
export interface AgentService {
  h: McpHarness;
  gitea: GiteaServer;
  project: any;
  agent: Client;
}

/**
 * Registers the hooks of a describe block in which one agent (`agentName`) works on acme/webapp
 * against the stand-in Gitea; with `resetGitea`, Gitea forgets what it was sent before each test.
 */
export function agentService(agentName: string, opts: { resetGitea?: boolean } = {}): AgentService {
  const a = {} as AgentService;
  before(async () => {
    a.gitea = await startGiteaServer();
    a.h = await startMcpHarness(a.gitea.env());
    a.project = (await a.h.api('POST', '/api/projects', { name: 'Web app', repo: 'acme/webapp' })).body;
    a.agent = await a.h.connect((await a.h.createAgent(agentName)).token);
  });
  after(async () => {
    await a.h?.close();
    await a.gitea?.close();
  });
  if (opts.resetGitea) beforeEach(() => a.gitea.reset());
  return a;
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
