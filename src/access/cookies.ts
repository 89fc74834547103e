import type { Context } from 'koa';

/** The session's cookie: its value is the session id, which only the person's browser holds. */
export const SESSION_COOKIE = 'aiworker_session';
/** Binds a sign-in under way to the browser that started it (the OAuth2 `state`, again). */
export const SIGN_IN_COOKIE = 'aiworker_sign_in';

export interface CookieOptions {
  /** Seconds; 0 deletes the cookie. */
  maxAge: number;
  path: string;
  /** Set when PUBLIC_URL is https. */
  secure: boolean;
}

/**
 * Written by hand rather than through ctx.cookies, which refuses `Secure` on a request that reached
 * this process over plain HTTP (behind a TLS-terminating proxy) unless the proxy is trusted.
 * Always HttpOnly (no script reads it) and SameSite=Lax (no other site's form or fetch sends it).
 */
export function setCookie(ctx: Context, name: string, value: string, opts: CookieOptions): void {
  const parts = [`${name}=${value}`, `Path=${opts.path}`, `Max-Age=${opts.maxAge}`, 'HttpOnly', 'SameSite=Lax'];
  if (opts.maxAge === 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  if (opts.secure) parts.push('Secure');
  ctx.append('Set-Cookie', parts.join('; '));
}

export function readCookie(ctx: Context, name: string): string | null {
  return ctx.cookies.get(name) || null;
}
