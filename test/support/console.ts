import type { ServiceOverrides } from '../../src/main.js';
import type { GiteaServer } from './gitea-server.js';
import { freePort } from './local-server.js';
import { startTestService, type TestService } from './service.js';

/**
 * A test service whose console signs people in with `gitea` (the OAuth2 application registered
 * there, PUBLIC_URL on a port chosen before start, since the redirect URI must name it).
 */
export async function startConsoleService(gitea: GiteaServer, env: Record<string, string> = {}, overrides: ServiceOverrides = {}, shared?: { name: string }): Promise<TestService> {
  const port = await freePort();
  const publicUrl = env.PUBLIC_URL ?? `http://127.0.0.1:${port}`;
  return startTestService({ ...gitea.consoleEnv(publicUrl), PORT: String(port), ...env }, overrides, shared);
}

/** Reads `name`'s value from a response's Set-Cookie headers (undefined when not set). */
export function setCookie(res: Response, name: string): { value: string; attributes: string } | undefined {
  for (const header of res.headers.getSetCookie()) {
    const [pair, ...attributes] = header.split(';');
    const [key, ...value] = pair!.split('=');
    if (key!.trim() === name) return { value: value.join('='), attributes: attributes.join(';').trim() };
  }
  return undefined;
}

export interface SignedIn {
  /** The Cookie header value that carries the session. */
  cookie: string;
  csrfToken: string;
  me: { login: string; fullName: string; avatarUrl: string; csrfToken: string };
  /** Where the callback sent the browser. */
  landedOn: string;
}

/** The steps of a sign-in as a browser takes them, each answer kept for tests that look closer. */
export async function signInSteps(serviceUrl: string, gitea: GiteaServer, login: string, next = '/') {
  gitea.oauth.signedIn = login;
  const login302 = await fetch(`${serviceUrl}/auth/login?next=${encodeURIComponent(next)}`, { redirect: 'manual' });
  const started = setCookie(login302, 'aiworker_sign_in');
  const authorize = await fetch(login302.headers.get('location')!, { redirect: 'manual' });
  const callbackUrl = authorize.headers.get('location')!;
  const callback = () => fetch(callbackUrl, { redirect: 'manual', headers: started ? { cookie: `aiworker_sign_in=${started.value}` } : {} });
  return { login302, started, authorize, callbackUrl, callback };
}

/** Signs `login` in through Gitea (the test's fake) and reads GET /api/me with the new session. */
export async function signIn(serviceUrl: string, gitea: GiteaServer, login: string, next = '/'): Promise<SignedIn> {
  if (!gitea.oauth.person(login)) gitea.oauth.addPerson(login);
  const steps = await signInSteps(serviceUrl, gitea, login, next);
  const res = await steps.callback();
  const session = setCookie(res, 'aiworker_session');
  if (res.status !== 302 || !session) throw new Error(`sign-in of ${login} failed: ${res.status} ${await res.text()}`);
  const cookie = `aiworker_session=${session.value}`;
  const me = await (await fetch(`${serviceUrl}/api/me`, { headers: { cookie } })).json();
  return { cookie, csrfToken: me.csrfToken, me, landedOn: res.headers.get('location')! };
}

/** A REST call made as a signed-in person's page makes it: cookie, and the CSRF token on unsafe methods unless `headers` say otherwise. */
export async function asPerson(serviceUrl: string, person: SignedIn, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${serviceUrl}${path}`, {
    method,
    headers: {
      cookie: person.cookie,
      ...(method === 'GET' ? {} : { 'x-csrf-token': person.csrfToken }),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
