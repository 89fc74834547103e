import { STATUS_CODES } from 'node:http';
import type Router from '@koa/router';
import type { RouterMiddleware } from '@koa/router';
import { z } from 'zod';
import { errorAnswer } from './shapes.js';
import { jsonBody } from '../request/body.js';

export type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';

/** What the API description says about one route; written beside the route by `route()`. */
export interface RouteDoc {
  summary: string;
  description?: string;
  /** Path parameters (`:name`) by name; one not listed is described as a string. */
  params?: Record<string, z.ZodType>;
  query?: z.ZodObject;
  /** The JSON body, as the schema that validates it. */
  body?: z.ZodType;
  /** Request headers the route reads. */
  headers?: Record<string, { description: string; required?: boolean }>;
  /** Successful answers by status, with the schema of their JSON body (none for an empty one). */
  answers: Record<number, { description: string; body?: z.ZodType }>;
  /** Error statuses the route may answer, each with the error shape; 401 and 403 are implied by `bearer`. */
  errors?: number[];
  /** `bearer` (the default): API_TOKEN or a person's console session (403 naming the Gitea permission it lacks); `signature`: Gitea's HMAC; `none`. */
  auth?: 'bearer' | 'signature' | 'none';
}

export interface DocumentedRoute extends RouteDoc {
  method: Method;
  path: string;
}

const DOCS = new WeakMap<Router, DocumentedRoute[]>();

/**
 * Registers a route together with its description, so a route is described where it is declared
 * and the OpenAPI document (`GET /api/openapi.json`) is built from what the routers hold.
 */
export function route(router: Router, method: Method, path: string, doc: RouteDoc, handler: RouterMiddleware): void {
  // A route that takes a JSON body has koa-body read it into ctx.request.body before its handler
  // runs; a signed route (Gitea's webhook) reads the exact bytes its signature covers itself.
  const readsBody = doc.body !== undefined && doc.auth !== 'signature';
  router.register(path, [method.toUpperCase()], readsBody ? [jsonBody, handler] : handler);
  const docs = DOCS.get(router) ?? [];
  docs.push({ method, path, ...doc });
  DOCS.set(router, docs);
}

/** Every method and path the routers answer (HEAD, which koa adds to each GET, aside). */
export function registeredRoutes(routers: Router[]): Array<{ method: string; path: string }> {
  return routers.flatMap((r) =>
    r.stack.flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((m) => ({ method: m.toLowerCase(), path: String(layer.path) }))),
  );
}

/** OpenAPI writes `/tasks/{id}` where koa writes `/tasks/:id`. */
export const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function schema(s: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

const ERROR_REF = { $ref: '#/components/schemas/Error' };

function operation(d: DocumentedRoute): Record<string, unknown> {
  const parameters: unknown[] = [];
  for (const [, name] of d.path.matchAll(/:([A-Za-z0-9_]+)/g)) {
    const s = d.params?.[name!];
    parameters.push({ name, in: 'path', required: true, schema: s ? schema(s, 'input') : { type: 'string' } });
  }
  for (const [name, s] of Object.entries(d.query?.shape ?? {})) {
    parameters.push({ name, in: 'query', required: !(s as z.ZodType).safeParse(undefined).success, schema: schema(s as z.ZodType, 'input') });
  }
  for (const [name, h] of Object.entries(d.headers ?? {})) {
    parameters.push({ name, in: 'header', required: h.required ?? false, description: h.description, schema: { type: 'string' } });
  }
  const responses: Record<string, unknown> = {};
  for (const [status, a] of Object.entries(d.answers)) {
    responses[status] = { description: a.description, ...(a.body ? { content: { 'application/json': { schema: schema(a.body, 'output') } } } : {}) };
  }
  const auth = d.auth ?? 'bearer';
  const errors = new Set([...(d.errors ?? []), ...(auth === 'bearer' ? [401, 403] : [])]);
  for (const status of [...errors].sort()) {
    responses[status] = { description: STATUS_CODES[status] ?? 'error', content: { 'application/json': { schema: ERROR_REF } } };
  }
  return {
    summary: d.summary,
    ...(d.description ? { description: d.description } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(d.body ? { requestBody: { required: true, content: { 'application/json': { schema: schema(d.body, 'input') } } } } : {}),
    responses,
    security: auth === 'bearer' ? [{ bearer: [] }] : [],
  };
}

/** The OpenAPI 3.1 document of every route the routers describe. */
export function openApiDocument(routers: Router[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const d of routers.flatMap((r) => DOCS.get(r) ?? [])) {
    (paths[openApiPath(d.path)] ??= {})[d.method] = operation(d);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'aiworker',
      version,
      description:
        "aiworker's REST API and its Gitea webhook endpoint. JSON in and out; field names are camelCase; every error answers `{\"error\": {\"code\", \"message\"}}`. Lists take `limit` (default 100, at most 1000) and `offset` and carry `total`.",
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: "API_TOKEN (automation, full rights), or a person's console session" },
      },
      schemas: { Error: schema(errorAnswer, 'output') },
    },
    paths,
  };
}
