import Router from '@koa/router';
import type { Context } from 'koa';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { AppError } from '../errors.js';
import { bearerToken } from '../request/credentials.js';
import { jsonReader, mediaType, parseJson } from '../request/body.js';
import { mcpServers, type McpDeps } from './server.js';
import { directToolCall } from './direct-call.js';
import type { HostRule } from '../access/origin.js';

/** JSON-RPC has no codes for these; both sit in its implementation-defined server-error range, as the SDK's examples use them. */
const UNAUTHORIZED = -32001;
const METHOD_NOT_ALLOWED = -32000;

function refuse(ctx: Context, status: number, code: number, message: string): void {
  ctx.status = status;
  ctx.body = { jsonrpc: '2.0', error: { code, message }, id: null };
}

/**
 * Streamable HTTP at /mcp, stateless: each POST is served for the agent its bearer token names, so
 * any replica can answer any request and nothing lives between them. A single tools/call is
 * answered directly (direct-call.ts); every other message gets its own SDK server and transport.
 */
export function mcpRoutes(deps: McpDeps, opts: { hosts: HostRule; maxBodyBytes?: number }): Router {
  const readMessage = jsonReader({ limit: opts.maxBodyBytes ?? 4 * 1024 * 1024, types: ['application/json'], what: 'MCP message' });
  const { callTool, serverFor } = mcpServers(deps);
  const router = new Router();
  router.all('/mcp', async (ctx) => {
    // The transport's DNS-rebinding rule, before anything else (the token is not even looked at).
    const refusal = opts.hosts.refusal(ctx.req.headers);
    if (refusal) {
      refuse(ctx, 403, ErrorCode.InvalidRequest, refusal);
      return;
    }
    const token = bearerToken(ctx);
    const agent = token ? await deps.agents.authenticate(token) : null;
    if (!agent) {
      ctx.set('WWW-Authenticate', 'Bearer realm="aiworker"');
      const why = token ? 'the bearer token is not a valid agent token' : 'no bearer token';
      refuse(ctx, 401, UNAUTHORIZED, `${why}: send Authorization: Bearer <agent token> (issued by POST /api/agents)`);
      return;
    }
    if (ctx.method !== 'POST') {
      // Stateless: no session to stream server-initiated messages on (GET) or to end (DELETE).
      ctx.set('Allow', 'POST');
      refuse(ctx, 405, METHOD_NOT_ALLOWED, `${ctx.method} is not supported: this MCP endpoint is stateless, send requests with POST`);
      return;
    }
    let message: unknown;
    try {
      const type = mediaType(ctx);
      if (type !== 'application/json') {
        refuse(ctx, 415, ErrorCode.InvalidRequest, `content type ${type || '(none)'} is not supported: send application/json`);
        return;
      }
      message = await readMessage(ctx);
      // No body, or an empty one, is refused as JSON.parse refuses '' (the reader gives it unparsed).
      if (message === undefined || message === '') message = parseJson('', 'MCP message');
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      refuse(ctx, err.status, err.status === 400 ? ErrorCode.ParseError : ErrorCode.InvalidRequest, err.message);
      return;
    }

    const call = directToolCall(message, ctx.req.headers);
    if (call) {
      // A client that goes away aborts what its call waits on, as closing the SDK's transport would.
      const aborts = new AbortController();
      ctx.res.once('close', () => aborts.abort());
      const result = await callTool(agent, call.name, call.args, aborts.signal);
      ctx.status = 200;
      ctx.set('Content-Type', 'application/json');
      ctx.body = JSON.stringify({ result, jsonrpc: '2.0', id: call.id });
      return;
    }

    const server = serverFor(agent);
    // One JSON answer per request: no tool streams progress, and a plain body costs less than an event stream.
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    ctx.respond = false;
    ctx.res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(ctx.req, ctx.res, message);
  });
  return router;
}
