import Router from '@koa/router';
import type { Registry } from 'prom-client';
import { withTimeout } from '../../timeout.js';

export type CheckResult = { status: 'ok' } | { status: 'error'; error: string } | { status: 'not configured' | 'dry-run'; detail?: string };

export interface HealthCheck {
  name: string;
  /** A failing critical check makes /readyz answer 503. */
  critical: boolean;
  run(): Promise<CheckResult>;
}

export async function runChecks(checks: HealthCheck[]): Promise<{ ready: boolean; checks: Record<string, CheckResult> }> {
  const results = await Promise.all(
    checks.map(async (c): Promise<[HealthCheck, CheckResult]> => {
      try {
        return [c, await withTimeout(c.run(), 2000, c.name)];
      } catch (err) {
        return [c, { status: 'error', error: (err as Error).message }];
      }
    }),
  );
  return {
    ready: results.every(([c, r]) => !c.critical || r.status === 'ok'),
    checks: Object.fromEntries(results.map(([c, r]) => [c.name, r])),
  };
}

export function healthRoutes(deps: { checks: HealthCheck[]; registry: Registry; isShuttingDown: () => boolean }): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const { ready, checks } = await runChecks(deps.checks);
    const shuttingDown = deps.isShuttingDown();
    ctx.status = ready && !shuttingDown ? 200 : 503;
    ctx.body = { status: ready && !shuttingDown ? 'ready' : shuttingDown ? 'shutting down' : 'not ready', checks };
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = deps.registry.contentType;
    ctx.body = await deps.registry.metrics();
  });
  return router;
}
