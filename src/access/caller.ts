import type { Context, Next } from 'koa';
import { forbidden, unauthorized } from '../errors.js';
import { bearerToken, safeEqual } from '../request/credentials.js';
import { readCookie, SESSION_COOKIE } from './cookies.js';
import type { HostRule } from './origin.js';
import type { Session, SessionStore } from './sessions.js';

/** Who makes an /api call: automation with API_TOKEN (every right), or a signed-in person. */
export type Caller = { kind: 'token' } | { kind: 'person'; sessionId: string; session: Session };

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const CSRF_HEADER = 'X-CSRF-Token';

export interface CallerDeps {
  apiToken: string | null;
  /** Null when sign-in with Gitea is not configured: only the bearer is accepted. */
  sessions: SessionStore | null;
  hosts: HostRule;
}

/**
 * The session a request's cookie names, checked as SPEC's console asks: an unsafe request first
 * has its Origin/Host checked (403 before anything else), then must name a live session (401)
 * and carry that session's CSRF token (403). Safe requests only need the live session.
 */
export async function sessionCaller(ctx: Context, deps: CallerDeps): Promise<Caller | null> {
  const id = readCookie(ctx, SESSION_COOKIE);
  if (!id || !deps.sessions) return null;
  const unsafe = !SAFE_METHODS.has(ctx.method);
  if (unsafe) {
    const refusal = deps.hosts.refusal(ctx.req.headers);
    if (refusal) throw forbidden(refusal);
  }
  const session = await deps.sessions.find(id);
  if (!session) throw unauthorized('your session has ended or is not valid: sign in with Gitea again');
  if (unsafe) {
    const sent = ctx.get(CSRF_HEADER);
    if (!sent) throw forbidden(`a ${ctx.method} made with the session cookie must carry the ${CSRF_HEADER} header (the csrfToken of GET /api/me)`);
    if (!safeEqual(sent, session.csrfToken)) throw forbidden(`the ${CSRF_HEADER} header does not match this session's csrfToken (GET /api/me)`);
  }
  return { kind: 'person', sessionId: id, session };
}

/** /api authentication: the API_TOKEN bearer, else the session cookie; fails closed when neither is configured. */
export function authenticateApi(deps: CallerDeps) {
  return async (ctx: Context, next: Next) => {
    const token = bearerToken(ctx);
    let caller: Caller | null = null;
    if (token) {
      if (!deps.apiToken) throw unauthorized('the bearer token is not accepted: API_TOKEN is not configured on the server');
      if (!safeEqual(token, deps.apiToken)) throw unauthorized();
      caller = { kind: 'token' };
    } else {
      caller = await sessionCaller(ctx, deps);
    }
    if (!caller) {
      if (!deps.apiToken && !deps.sessions) throw unauthorized('the REST API is disabled: neither API_TOKEN nor sign-in with Gitea is configured on the server');
      throw unauthorized(deps.sessions ? 'sign in with Gitea (GET /auth/login) or send Authorization: Bearer <API_TOKEN>' : 'missing or invalid bearer token');
    }
    ctx.state.caller = caller;
    await next();
  };
}

/** The caller authenticateApi found; routes under /api always have one. */
export function callerOf(ctx: Context): Caller {
  const caller = ctx.state.caller as Caller | undefined;
  if (!caller) throw new Error(`${ctx.method} ${ctx.path} has no authenticated caller: it is not behind authenticateApi`);
  return caller;
}
