import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { GITEA_TOKEN, startGiteaServer, type GiteaServer } from '../support/gitea-server.js';

// The console's sign-in tests trust this stand-in to refuse what Gitea refuses: these pin that down.
describe('the test Gitea as an OAuth2 provider', () => {
  let gitea: GiteaServer;
  const verifier = 'v'.repeat(43);
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  let env: Record<string, string>;

  beforeEach(async () => {
    gitea = await startGiteaServer();
    env = gitea.consoleEnv('http://127.0.0.1:9/');
    gitea.oauth.addPerson('alice', 'Alice Liddell', 'https://avatars.test/alice');
    gitea.oauth.signedIn = 'alice';
  });
  afterEach(() => gitea.close());

  const authorize = async (params: Record<string, string> = {}) => {
    const q = new URLSearchParams({ client_id: env.GITEA_OAUTH_CLIENT_ID!, redirect_uri: 'http://127.0.0.1:9/auth/callback', response_type: 'code', state: 's1', code_challenge: challenge, code_challenge_method: 'S256', scope: 'read:user', ...params });
    const res = await fetch(`${gitea.url}/login/oauth/authorize?${q}`, { redirect: 'manual' });
    return { status: res.status, location: res.headers.get('location') };
  };
  const exchange = async (fields: Record<string, string>) => {
    const res = await fetch(`${gitea.url}/login/oauth/access_token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: new URLSearchParams({ grant_type: 'authorization_code', client_id: env.GITEA_OAUTH_CLIENT_ID!, client_secret: env.GITEA_OAUTH_CLIENT_SECRET!, redirect_uri: 'http://127.0.0.1:9/auth/callback', code_verifier: verifier, ...fields }) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const codeFrom = (location: string | null) => new URL(location!).searchParams.get('code')!;

  it('redirects back with a code and the state, exchanges it once for a token that reads only the person', async () => {
    const { status, location } = await authorize();
    expect(status).to.equal(303);
    expect(new URL(location!).searchParams.get('state')).to.equal('s1');
    const token = await exchange({ code: codeFrom(location) });
    expect(token.status).to.equal(200);
    expect(token.body).to.include({ token_type: 'bearer', expires_in: 3600 });
    const me = await fetch(`${gitea.url}/api/v1/user`, { headers: { authorization: `Bearer ${token.body.access_token}` } });
    expect(await me.json()).to.include({ login: 'alice', full_name: 'Alice Liddell', avatar_url: 'https://avatars.test/alice' });
    const perm = await fetch(`${gitea.url}/api/v1/repos/acme/webapp/collaborators/alice/permission`, { headers: { authorization: `Bearer ${token.body.access_token}` } });
    expect(perm.status).to.equal(403);
    expect((await exchange({ code: codeFrom(location) })).body).to.include({ error: 'unauthorized_client' });
    expect(gitea.oauth.scopes).to.deep.equal(['read:user']);
  });

  it('refuses a wrong verifier, secret or redirect URI, an unknown client and a denied authorization', async () => {
    expect((await exchange({ code: codeFrom((await authorize()).location), code_verifier: 'w'.repeat(43) })).body).to.include({ error_description: 'failed PKCE code challenge' });
    expect((await exchange({ code: codeFrom((await authorize()).location), client_secret: 'nope' })).body).to.include({ error_description: 'invalid client secret' });
    expect((await exchange({ code: codeFrom((await authorize()).location), redirect_uri: 'http://evil.test/cb' })).body).to.include({ error_description: 'unexpected redirect URI' });
    expect((await authorize({ client_id: 'other' })).status).to.equal(400);
    expect((await authorize({ redirect_uri: 'http://evil.test/cb' })).status).to.equal(400);
    gitea.oauth.refuse = true;
    expect(new URL((await authorize()).location!).searchParams.get('error')).to.equal('access_denied');
    expect(gitea.oauth.exchanges.map((e) => e.status)).to.deep.equal([400, 400, 400]);
  });

  it('answers collaborator permissions per repository with the bot token', async () => {
    gitea.setPermission('alice', 'read');
    gitea.setPermission('alice', 'write', 'acme/api');
    const ask = async (repo: string) => {
      const res = await fetch(`${gitea.url}/api/v1/repos/${repo}/collaborators/alice/permission`, { headers: { authorization: `token ${GITEA_TOKEN}` } });
      return ((await res.json()) as { permission: string }).permission;
    };
    expect(await ask('acme/webapp')).to.equal('read');
    expect(await ask('acme/api')).to.equal('write');
  });
});
