import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';

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
