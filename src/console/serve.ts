import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Logger } from '../log.js';
import { BOARD_BUILD_DIR } from './location.js';

/** Where the page's assets are served from; the Ingress routes this prefix to the web pods. */
export const BOARD_ASSET_PREFIX = '/dashboard/';

/** The template's slot telling the page which way people sign in. */
const SIGN_IN_SLOT = '{{sign-in}}';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

export interface BoardOptions {
  /** How people sign in: with Gitea when the OAuth2 application is configured, else the feed-token form. */
  signIn: 'gitea' | 'feed-token';
  /** Gitea's origin, where people's avatars live. */
  giteaUrl: string | null;
  log: Pick<Logger, 'warn'>;
  /** The built bundle (tests may point elsewhere). */
  dir?: string;
}

/**
 * The page holds no data (it reads everything with the person's session or the feed token), so it
 * is public. Only same-origin script and style run; avatars may come from Gitea (or the Gravatar
 * it points to).
 */
function securityHeaders(giteaUrl: string | null): Record<string, string> {
  const images = ["'self'", 'data:', 'https:', giteaUrl ? new URL(giteaUrl).origin : ''].filter(Boolean).join(' ');
  return {
    'Content-Security-Policy': `default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src ${images}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
  };
}

interface Asset {
  type: string;
  body: Buffer;
}

/** The built files, read once at start: a later build never mixes into what this process serves. */
function loadBundle(dir: string): { page: string; assets: Map<string, Asset> } | null {
  if (!existsSync(join(dir, 'index.html'))) return null;
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type) assets.set(name, { type, body: readFileSync(join(dir, name)) });
  }
  return { page: readFileSync(join(dir, 'index.html'), 'utf8'), assets };
}

/** GET / (the board of the console) and its content-hashed assets under /dashboard/. */
export function boardRoutes(opts: BoardOptions): Router {
  const dir = opts.dir ?? BOARD_BUILD_DIR;
  const bundle = loadBundle(dir);
  const headers = securityHeaders(opts.giteaUrl);
  const router = new Router();
  if (!bundle) {
    opts.log.warn({ dir }, 'the board is not built: / answers 503 until `npm run build` has run and the web role restarts');
  }
  const page = bundle?.page.replace(SIGN_IN_SLOT, opts.signIn);

  router.get('/', (ctx: Context) => {
    ctx.set(headers);
    ctx.set('Cache-Control', 'no-cache');
    if (!page) {
      ctx.status = 503;
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = 'The board is not built: run `npm run build`, then restart aiworker.\n';
      return;
    }
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = page;
  });
  router.get(`${BOARD_ASSET_PREFIX}:name`, (ctx: Context) => {
    const asset = bundle?.assets.get(ctx.params.name);
    if (!asset) return;
    ctx.set(headers);
    // The names carry their content's hash: a new build is new names, so these never go stale.
    ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.type = asset.type;
    ctx.body = asset.body;
  });
  return router;
}
