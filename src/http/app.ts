import Koa from 'koa';
import Router from '@koa/router';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { errorHandler } from './errors.js';
import { authenticateApi, type CallerDeps } from '../access/caller.js';
import { guardPersonRoutes, type Rights } from '../access/rights.js';

export interface AppOptions {
  log: Logger;
  metrics: Metrics;
  /** Who may call /api (the API_TOKEN bearer, people's sessions) and what people may call. */
  access: { callers: CallerDeps; rights: Rights } | null;
  /** Routes open to anyone (health, webhooks with their own signature check, the board, sign-in). */
  publicRoutes: Router[];
  /** Routes under /api behind the bearer token or a session. */
  apiRoutes: Router[];
}

export function createApp(opts: AppOptions): Koa {
  const app = new Koa({ proxy: true });
  // errorHandler answers every failure of a handler; what still reaches here is the connection itself
  // failing (a client that reset it, or sent a body HTTP cannot frame). Koa's default prints it to stderr.
  app.on('error', (err: Error & { code?: string }, ctx?: { path?: string }) => {
    opts.log.debug({ err: err.message, code: err.code, path: ctx?.path }, 'HTTP connection failed mid-request');
  });
  app.use(async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      opts.metrics.httpRequests.observe({ method: ctx.method, route: String(route), status: String(ctx.status) }, seconds);
    }
  });
  app.use(errorHandler(opts.log));
  for (const r of opts.publicRoutes) app.use(r.routes()).use(r.allowedMethods());
  const api = new Router();
  if (opts.access) api.use('/api', authenticateApi(opts.access.callers), guardPersonRoutes(api, opts.access.rights, opts.log));
  for (const r of opts.apiRoutes) api.use(r.routes(), r.allowedMethods());
  app.use(api.routes()).use(api.allowedMethods());
  return app;
}
