import Router from '@koa/router';
import type { Context } from 'koa';
import { AppError, badRequest, unauthorized } from '../errors.js';
import type { Logger } from '../log.js';
import { route } from '../http/openapi.js';
import { me } from '../http/shapes.js';
import { callerOf, sessionCaller, type CallerDeps } from './caller.js';
import { readCookie, setCookie, SESSION_COOKIE, SIGN_IN_COOKIE } from './cookies.js';
import type { GiteaSignIn } from './gitea-sign-in.js';
import { randomToken, SESSION_TTL_MS, SIGN_IN_TTL_MS, type SessionStore } from './sessions.js';

/**
 * Where to go after signing in: a path of this site only. Anything else — another site
 * (`https://…`), a protocol-relative `//host`, a backslash that browsers read as a slash (`/\host`),
 * control characters — becomes `/`.
 */
export function localPath(next: unknown): string {
  if (typeof next !== 'string' || next.length > 2048) return '/';
  if (!next.startsWith('/') || next.startsWith('//') || /[\\\u0000-\u001f\u007f]/.test(next)) return '/';
  const base = 'http://aiworker.invalid';
  const url = new URL(next, base);
  return url.origin === base ? `${url.pathname}${url.search}${url.hash}` : '/';
}

export interface SignInRouteDeps extends CallerDeps {
  sessions: SessionStore;
  signIn: GiteaSignIn;
  secureCookies: boolean;
  log: Logger;
}

/** GET /auth/login, GET /auth/callback, POST /auth/logout: signing in with Gitea (SPEC §9). */
export function signInRoutes(deps: SignInRouteDeps): Router {
  const router = new Router();
  const cookie = (ctx: Context, name: string, value: string, maxAgeMs: number, path = '/') =>
    setCookie(ctx, name, value, { maxAge: Math.floor(maxAgeMs / 1000), path, secure: deps.secureCookies });

  router.get('/auth/login', async (ctx) => {
    const state = randomToken();
    const verifier = randomToken();
    await deps.sessions.beginSignIn(state, verifier, localPath(ctx.query.next));
    cookie(ctx, SIGN_IN_COOKIE, state, SIGN_IN_TTL_MS, '/auth');
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(deps.signIn.authorizeUrl(state, verifier));
  });

  router.get('/auth/callback', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const q = ctx.query;
    const state = typeof q.state === 'string' ? q.state : '';
    if (!state) throw badRequest('the sign-in answer has no state: start again at /auth/login');
    // Taken (deleted) first, whatever follows: a state is good for one answer only.
    const pending = await deps.sessions.takeSignIn(state);
    const started = readCookie(ctx, SIGN_IN_COOKIE);
    cookie(ctx, SIGN_IN_COOKIE, '', 0, '/auth');
    if (!pending) throw badRequest('this sign-in is unknown, already used or expired: start again at /auth/login');
    if (started !== state) throw badRequest('this sign-in was not started in this browser: start again at /auth/login');
    if (typeof q.error === 'string') {
      const why = typeof q.error_description === 'string' ? `${q.error}: ${q.error_description}` : q.error;
      throw badRequest(`Gitea did not grant the sign-in (${why})`);
    }
    if (typeof q.code !== 'string' || !q.code) throw badRequest('the sign-in answer has no code: start again at /auth/login');
    const person = await deps.signIn.person(q.code, pending.codeVerifier);
    const { id } = await deps.sessions.start(person);
    cookie(ctx, SESSION_COOKIE, id, SESSION_TTL_MS);
    deps.log.info({ login: person.login }, 'signed in with Gitea');
    ctx.redirect(pending.nextPath);
  });

  router.post('/auth/logout', async (ctx) => {
    let caller;
    try {
      caller = await sessionCaller(ctx, deps);
    } catch (err) {
      // A session that is gone is signed out already; the browser forgets its cookie either way.
      if (err instanceof AppError && err.status === 401) cookie(ctx, SESSION_COOKIE, '', 0);
      throw err;
    }
    if (!caller || caller.kind !== 'person') throw unauthorized('there is no session to end');
    await deps.sessions.end(caller.sessionId);
    cookie(ctx, SESSION_COOKIE, '', 0);
    deps.log.info({ login: caller.session.login }, 'signed out');
    ctx.status = 204;
  });

  return router;
}

/** GET /api/me: the signed-in person and the CSRF token their page sends with unsafe calls. */
export function meRoutes(): Router {
  const router = new Router();
  route(router, 'get', '/api/me', {
    summary: 'The signed-in person, and the CSRF token their page sends with unsafe calls',
    description: 'Only with a console session: the API token is not a person (401).',
    answers: { 200: { description: 'the person', body: me } },
  }, (ctx) => {
    const caller = callerOf(ctx);
    if (caller.kind !== 'person') throw unauthorized('GET /api/me describes a signed-in person: the API token is not one (sign in with Gitea)');
    const { login, fullName, avatarUrl, csrfToken } = caller.session;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { login, fullName, avatarUrl, csrfToken };
  });
  return router;
}
