import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { unauthorized } from '../errors.js';

/** Compares secrets in constant time (hashing first makes the lengths equal). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export function bearerToken(ctx: Context): string | null {
  const m = /^Bearer\s+(.+)$/i.exec(ctx.get('authorization'));
  return m ? m[1].trim() : null;
}

/** REST auth: fails closed when API_TOKEN is not configured. */
export function requireApiToken(apiToken: string | null) {
  return async (ctx: Context, next: Next) => {
    const token = bearerToken(ctx);
    if (!apiToken) throw unauthorized('the REST API is disabled: API_TOKEN is not configured on the server');
    if (!token || !safeEqual(token, apiToken)) throw unauthorized();
    await next();
  };
}
