import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import { createLogger } from '../../src/log.js';
import { startGiteaServer, type GiteaServer } from '../support/gitea-server.js';
import { asPerson, setCookie, signIn, signInSteps, startConsoleService } from '../support/console.js';
import { startTestService, uniqueName, type TestService } from '../support/service.js';

describe('console sign-in with Gitea', () => {
  let gitea: GiteaServer;
  let svc: TestService;
  const logLines: string[] = [];
  const sessionRows = async () => (await svc.db('console_sessions').count({ n: '*' }))[0]!.n as number;

  before(async () => {
    gitea = await startGiteaServer();
    gitea.oauth.addPerson('alice', 'Alice Liddell', 'https://avatars.test/alice.png');
    const sink = new PassThrough();
    sink.on('data', (chunk: Buffer) => logLines.push(chunk.toString('utf8')));
    svc = await startConsoleService(gitea, {}, { log: createLogger('debug', sink) });
  });
  after(async () => {
    await svc?.cleanup();
    await gitea?.close();
  });

  it('sends the browser to Gitea with state and a PKCE S256 challenge, asking only for read:user', async () => {
    const res = await fetch(`${svc.url}/auth/login?next=/`, { redirect: 'manual' });
    expect(res.status).to.equal(302);
    const to = new URL(res.headers.get('location')!);
    expect(`${to.origin}${to.pathname}`).to.equal(`${gitea.url}/login/oauth/authorize`);
    expect(Object.fromEntries(to.searchParams)).to.include({
      client_id: gitea.oauth.app!.clientId,
      redirect_uri: `${svc.config.publicUrl}/auth/callback`,
      response_type: 'code',
      code_challenge_method: 'S256',
      scope: 'read:user',
    });
    expect(to.searchParams.get('state')).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(to.searchParams.get('code_challenge')).to.match(/^[A-Za-z0-9_-]{43}$/);
    const started = setCookie(res, 'aiworker_sign_in')!;
    expect(started.value).to.equal(to.searchParams.get('state'));
    expect(started.attributes).to.include('HttpOnly').and.include('SameSite=Lax').and.not.include('Secure');
  });

  it('starts a server-side session with an HttpOnly SameSite=Lax cookie and answers GET /api/me', async () => {
    const steps = await signInSteps(svc.url, gitea, 'alice', '/?project=2#top');
    const res = await steps.callback();
    expect(res.status).to.equal(302);
    expect(res.headers.get('location')).to.equal('/?project=2#top');
    const session = setCookie(res, 'aiworker_session')!;
    expect(session.attributes).to.include('HttpOnly').and.include('SameSite=Lax').and.include('Path=/').and.not.include('Secure');
    expect(gitea.oauth.exchanges.at(-1)).to.include({ status: 200, hadVerifier: true, redirectUri: `${svc.config.publicUrl}/auth/callback` });

    const me = await fetch(`${svc.url}/api/me`, { headers: { cookie: `aiworker_session=${session.value}` } });
    expect(me.status).to.equal(200);
    const body = await me.json();
    expect(body).to.include({ login: 'alice', fullName: 'Alice Liddell', avatarUrl: 'https://avatars.test/alice.png' });
    expect(body.csrfToken).to.match(/^[A-Za-z0-9_-]{43}$/);

    // Only a hash of the session id is stored.
    const rows = await svc.db('console_sessions').select();
    expect(JSON.stringify(rows)).to.not.include(session.value);
  });

  it('refuses a wrong, replayed or foreign state and a refused code with 400, starting no session', async () => {
    const before = await sessionRows();
    const steps = await signInSteps(svc.url, gitea, 'alice');
    const url = new URL(steps.callbackUrl);

    const wrong = new URL(url);
    wrong.searchParams.set('state', 'x'.repeat(43));
    const wrongRes = await fetch(wrong, { redirect: 'manual', headers: { cookie: `aiworker_sign_in=${steps.started!.value}` } });
    expect(wrongRes.status).to.equal(400);
    expect((await wrongRes.json()).error.message).to.match(/unknown, already used or expired/);

    expect((await steps.callback()).status).to.equal(302);
    const replay = await steps.callback();
    expect(replay.status).to.equal(400);
    expect(setCookie(replay, 'aiworker_session')).to.equal(undefined);

    // A callback carried to another browser (no sign-in cookie): the login-CSRF case.
    const other = await signInSteps(svc.url, gitea, 'alice');
    const foreign = await fetch(other.callbackUrl, { redirect: 'manual' });
    expect(foreign.status).to.equal(400);
    expect((await foreign.json()).error.message).to.match(/not started in this browser/);

    gitea.oauth.refuse = true;
    try {
      const denied = await signInSteps(svc.url, gitea, 'alice');
      const res = await denied.callback();
      expect(res.status).to.equal(400);
      expect((await res.json()).error.message).to.include('access_denied');
    } finally {
      gitea.oauth.refuse = false;
    }

    const forged = await signInSteps(svc.url, gitea, 'alice');
    const badCode = new URL(forged.callbackUrl);
    badCode.searchParams.set('code', 'not-a-code');
    const refused = await fetch(badCode, { redirect: 'manual', headers: { cookie: `aiworker_sign_in=${forged.started!.value}` } });
    expect(refused.status).to.equal(400);
    expect((await refused.json()).error.message).to.match(/Gitea refused the sign-in code/);

    expect(await sessionRows()).to.equal(before + 1);
  });

  it('sends the browser back to a local path only', async () => {
    for (const next of ['//evil.example', 'https://evil.example/x', '/\\evil.example', '/\\/evil.example', 'javascript:alert(1)', '/%0d%0aSet-Cookie:x=1']) {
      const { landedOn } = await signIn(svc.url, gitea, 'alice', next);
      expect(landedOn, next).to.satisfy((l: string) => l === '/' || (l.startsWith('/') && !l.startsWith('//') && !l.includes('\\') && !/[\r\n]/.test(l)));
      expect(new URL(landedOn, 'http://x.invalid').host, next).to.equal('x.invalid');
    }
    expect((await signIn(svc.url, gitea, 'alice', '//evil.example')).landedOn).to.equal('/');
    expect((await signIn(svc.url, gitea, 'alice', '/tasks?state=approved')).landedOn).to.equal('/tasks?state=approved');
  });

  it('answers 401 to a forged or expired session and to no session at all', async () => {
    const alice = await signIn(svc.url, gitea, 'alice');
    expect((await fetch(`${svc.url}/api/me`)).status).to.equal(401);
    expect((await fetch(`${svc.url}/api/me`, { headers: { cookie: `aiworker_session=${'A'.repeat(43)}` } })).status).to.equal(401);
    expect((await fetch(`${svc.url}/api/me`, { headers: { cookie: 'aiworker_session=short' } })).status).to.equal(401);
    await svc.db('console_sessions').update({ expires_at: new Date(Date.now() - 1000) });
    const expired = await fetch(`${svc.url}/api/me`, { headers: { cookie: alice.cookie } });
    expect(expired.status).to.equal(401);
    expect((await expired.json()).error.message).to.match(/session has ended/);
  });

  it('signs out with the CSRF token only, and the session then answers 401', async () => {
    const alice = await signIn(svc.url, gitea, 'alice');
    const noToken = await fetch(`${svc.url}/auth/logout`, { method: 'POST', headers: { cookie: alice.cookie } });
    expect(noToken.status).to.equal(403);
    expect((await fetch(`${svc.url}/api/me`, { headers: { cookie: alice.cookie } })).status).to.equal(200);
    const foreign = await fetch(`${svc.url}/auth/logout`, { method: 'POST', headers: { cookie: alice.cookie, 'x-csrf-token': alice.csrfToken, origin: 'https://evil.example' } });
    expect(foreign.status).to.equal(403);
    const out = await fetch(`${svc.url}/auth/logout`, { method: 'POST', headers: { cookie: alice.cookie, 'x-csrf-token': alice.csrfToken } });
    expect(out.status).to.equal(204);
    expect(setCookie(out, 'aiworker_session')!.attributes).to.include('Max-Age=0');
    expect((await fetch(`${svc.url}/api/me`, { headers: { cookie: alice.cookie } })).status).to.equal(401);
  });

  it('keeps sessions across a restart', async () => {
    const name = uniqueName();
    const first = await startConsoleService(gitea, {}, {}, { name });
    let second: TestService | null = null;
    try {
      const alice = await signIn(first.url, gitea, 'alice');
      const publicUrl = first.config.publicUrl!;
      await first.stop();
      second = await startTestService({ ...gitea.env(), PUBLIC_URL: publicUrl, PORT: String(new URL(publicUrl).port), GITEA_OAUTH_CLIENT_ID: gitea.oauth.app!.clientId, GITEA_OAUTH_CLIENT_SECRET: gitea.oauth.app!.clientSecret }, {}, { name });
      const me = await asPerson(second.url, alice, 'GET', '/api/me');
      expect(me.status).to.equal(200);
      expect(me.body.login).to.equal('alice');
    } finally {
      await second?.stop();
      const { dropTestState } = await import('../support/service.js');
      await dropTestState(name);
    }
  });

  it('writes nothing of sessions, codes, states or tokens to the log', async () => {
    const alice = await signIn(svc.url, gitea, 'alice');
    await asPerson(svc.url, alice, 'POST', '/auth/logout');
    const log = logLines.join('');
    expect(log).to.include('signed in with Gitea');
    const secrets = [alice.cookie.split('=')[1]!, alice.csrfToken, gitea.oauth.app!.clientSecret];
    for (const secret of secrets) expect(log).to.not.include(secret);
    expect(log).to.not.match(/gta_[0-9a-f]{40}/);
    expect(log).to.not.match(/code=[0-9a-f]{32}/);
  });
});

describe('console without sign-in configured', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService();
  });
  after(() => svc?.cleanup());

  it('has no sign-in routes, and the API token still works (but is no person for /api/me)', async () => {
    expect((await fetch(`${svc.url}/auth/login`, { redirect: 'manual' })).status).to.equal(404);
    expect((await svc.api('GET', '/api/projects')).status).to.equal(200);
    const me = await svc.api('GET', '/api/me');
    expect(me.status).to.equal(401);
    const withCookie = await fetch(`${svc.url}/api/projects`, { headers: { cookie: `aiworker_session=${'A'.repeat(43)}` } });
    expect(withCookie.status).to.equal(401);
  });
});
