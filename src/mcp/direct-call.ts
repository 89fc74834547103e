import type { IncomingHttpHeaders } from 'node:http';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';

/** A `tools/call` request the endpoint answers itself (see directToolCall). */
export interface DirectToolCall {
  id: string | number;
  name: string;
  args: Record<string, unknown> | undefined;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const onlyKeys = (value: Record<string, unknown>, allowed: ReadonlySet<string>) => Object.keys(value).every((k) => allowed.has(k));

const MESSAGE_KEYS = new Set(['jsonrpc', 'id', 'method', 'params']);
const PARAMS_KEYS = new Set(['name', 'arguments', '_meta']);

/**
 * The stateless endpoint's common case, a single well-formed `tools/call` request, taken off the
 * SDK's transport: that transport turns each Node request into a web Request, validates it with
 * zod, builds a server, and turns its answer back, which costs more CPU than the tool call it
 * carries. A request qualifies only when the SDK would accept it and answer with one JSON-RPC
 * response in a JSON body: both media types accepted, a supported (or absent) protocol version
 * header, one request object with exactly the fields MCP defines for tools/call and no task
 * augmentation. Anything else — initialize, tools/list, notifications, batches, malformed or
 * unusual messages — returns null and goes through the SDK, which decides and words the answer.
 */
export function directToolCall(message: unknown, headers: IncomingHttpHeaders): DirectToolCall | null {
  const accept = headers.accept ?? '';
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) return null;
  const version = headers['mcp-protocol-version'];
  if (version !== undefined && !(SUPPORTED_PROTOCOL_VERSIONS as readonly string[]).includes(String(version))) return null;
  if (!isPlainObject(message) || !onlyKeys(message, MESSAGE_KEYS)) return null;
  if (message.jsonrpc !== '2.0' || message.method !== 'tools/call') return null;
  const { id, params } = message;
  if (!(typeof id === 'string' || Number.isSafeInteger(id))) return null;
  if (!isPlainObject(params) || !onlyKeys(params, PARAMS_KEYS) || typeof params.name !== 'string') return null;
  if (params.arguments !== undefined && !isPlainObject(params.arguments)) return null;
  if (params._meta !== undefined && !isPlainObject(params._meta)) return null;
  return { id: id as string | number, name: params.name, args: params.arguments };
}
