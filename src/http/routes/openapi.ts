import Router from '@koa/router';
import { z } from 'zod';
import { route } from '../openapi.js';

/** GET /api/openapi.json: open to anyone, like the API's documentation; it holds no secret. */
export function openApiRoutes(document: () => Record<string, unknown>): Router {
  const router = new Router();
  let built: Record<string, unknown> | null = null;
  route(router, 'get', '/api/openapi.json', {
    summary: 'This description of the API (OpenAPI 3.1)',
    auth: 'none',
    answers: { 200: { description: 'the OpenAPI document', body: z.looseObject({ openapi: z.string(), info: z.object({}).loose(), paths: z.record(z.string(), z.unknown()) }) } },
  }, (ctx) => {
    // The routers are complete once the app is built; the document is made at the first request.
    built ??= document();
    ctx.body = built;
  });
  return router;
}
