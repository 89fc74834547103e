import Router from '@koa/router';
import type { Context } from 'koa';
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from './dashboard-assets.js';

/**
 * The page holds no data (it gets everything over the feed, with the feed token), so it is public.
 * The token may arrive in the URL: no Referer leaves the page, and only same-origin code runs.
 */
const HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
};

const asset = (type: string, body: string) => (ctx: Context) => {
  ctx.set(HEADERS);
  ctx.type = type;
  ctx.body = body;
};

/** GET / (the kanban of SPEC §6) and its assets under /dashboard/. */
export function dashboardRoutes(): Router {
  const router = new Router();
  router.get('/', asset('text/html; charset=utf-8', DASHBOARD_HTML));
  router.get('/dashboard/dashboard.css', asset('text/css; charset=utf-8', DASHBOARD_CSS));
  router.get('/dashboard/dashboard.js', asset('text/javascript; charset=utf-8', DASHBOARD_JS));
  return router;
}
