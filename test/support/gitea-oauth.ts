import { createHash, randomBytes } from 'node:crypto';

/** A person with a Gitea account, as `GET /api/v1/user` describes them (swagger.v1.json: User). */
export interface GiteaPerson {
  id: number;
  login: string;
  fullName: string;
  avatarUrl: string;
}

/** The OAuth2 application registered in Gitea for the service under test. */
export interface OAuthApp {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

/** What one call to `/login/oauth/access_token` sent and how it was answered, for assertions. */
export interface TokenExchange {
  grantType: string;
  clientId: string;
  redirectUri: string;
  hadVerifier: boolean;
  status: number;
  error: string | null;
}

interface AuthorizationCode {
  login: string;
  clientId: string;
  redirectUri: string;
  challenge: string;
  challengeMethod: string;
  scope: string;
}

export type OAuthReply =
  | { kind: 'json'; status: number; body: unknown }
  | { kind: 'redirect'; location: string }
  | { kind: 'html'; status: number; text: string };

/**
 * Gitea as an OAuth2 provider (routers/web/auth/oauth2_provider.go): `/login/oauth/authorize`
 * signs in whoever the test chose and redirects back with a code (Gitea's consent page is skipped,
 * as it is for a confidential client the person already granted); `/login/oauth/access_token`
 * checks the client id and secret, the redirect URI, the PKCE verifier and that a code is used once,
 * answering Gitea's error bodies; the access tokens it issues read `/api/v1/user` and nothing else
 * (they carry the requested scope, `read:user`).
 */
export class GiteaOAuth {
  /** The application registered last (services started with consoleEnv each register their own). */
  app: OAuthApp | null = null;
  private readonly apps = new Map<string, OAuthApp>();
  /** Who is signed in to Gitea in the browser: the person the next authorization is for. */
  signedIn: string | null = null;
  /** While set, the person refuses the authorization (Gitea redirects back with `error=access_denied`). */
  refuse = false;
  readonly exchanges: TokenExchange[] = [];
  /** The `scope` of every authorization request, in order. */
  readonly scopes: string[] = [];
  private readonly people = new Map<string, GiteaPerson>();
  private readonly codes = new Map<string, AuthorizationCode>();
  private readonly tokens = new Map<string, { login: string; scope: string }>();
  private nextId = 100;

  /** Registers an OAuth2 application with its one redirect URI (as Gitea's settings page does). */
  register(redirectUri: string): OAuthApp {
    this.app = { clientId: `client-${randomBytes(6).toString('hex')}`, clientSecret: `gto_${randomBytes(16).toString('hex')}`, redirectUri };
    this.apps.set(this.app.clientId, this.app);
    return this.app;
  }

  /** Adds (or replaces) a Gitea account. */
  addPerson(login: string, fullName = '', avatarUrl = ''): GiteaPerson {
    const person = { id: this.people.get(login)?.id ?? this.nextId++, login, fullName, avatarUrl };
    this.people.set(login, person);
    return person;
  }

  person(login: string): GiteaPerson | undefined {
    return this.people.get(login);
  }

  /** Ends every access token issued so far, as an hour passing does. */
  expireAccessTokens(): void {
    this.tokens.clear();
  }

  /** The person an access token (`Authorization: Bearer …` or `token …`) stands for, with its scope. */
  tokenHolder(token: string): { person: GiteaPerson; scope: string } | null {
    const held = this.tokens.get(token);
    const person = held && this.people.get(held.login);
    return person ? { person, scope: held.scope } : null;
  }

  authorize(query: URLSearchParams): OAuthReply {
    const app = this.apps.get(query.get('client_id') ?? '');
    const state = query.get('state') ?? '';
    const redirectUri = query.get('redirect_uri') ?? '';
    if (!app) return { kind: 'html', status: 400, text: 'unauthorized_client: Client ID not registered' };
    if (redirectUri !== app.redirectUri) return { kind: 'html', status: 400, text: 'invalid_request: Unregistered Redirect URI' };
    const back = (params: Record<string, string>): OAuthReply => {
      const url = new URL(redirectUri);
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
      return { kind: 'redirect', location: url.toString() };
    };
    if (query.get('response_type') !== 'code') return back({ error: 'unsupported_response_type', error_description: 'Only code response type is supported.', state });
    const method = query.get('code_challenge_method') ?? '';
    if (method !== 'S256' && method !== 'plain' && method !== '') return back({ error: 'invalid_request', error_description: 'unsupported code challenge method', state });
    if (this.refuse) return back({ error: 'access_denied', error_description: 'the request is denied', state });
    if (!this.signedIn || !this.people.has(this.signedIn)) return { kind: 'html', status: 401, text: 'nobody is signed in to the test Gitea (set signedIn to a person added with addPerson)' };
    const scope = query.get('scope') ?? '';
    this.scopes.push(scope);
    const code = randomBytes(16).toString('hex');
    this.codes.set(code, { login: this.signedIn, clientId: app.clientId, redirectUri, challenge: query.get('code_challenge') ?? '', challengeMethod: method, scope });
    return back({ code, state });
  }

  /** `POST /login/oauth/access_token`; `form` is the urlencoded or JSON body, `authorization` the header (Basic client credentials). */
  accessToken(form: Record<string, string>, authorization: string | undefined): OAuthReply {
    let clientId = form.client_id ?? '';
    let clientSecret = form.client_secret ?? '';
    const basic = /^Basic\s+(.+)$/i.exec(authorization ?? '');
    if ((!clientId || !clientSecret) && basic) {
      const [id, secret] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
      clientId ||= decodeURIComponent(id ?? '');
      clientSecret ||= decodeURIComponent(secret ?? '');
    }
    const record = (status: number, error: string | null) =>
      this.exchanges.push({ grantType: form.grant_type ?? '', clientId, redirectUri: form.redirect_uri ?? '', hadVerifier: Boolean(form.code_verifier), status, error });
    const fail = (error: string, description: string): OAuthReply => {
      record(400, error);
      return { kind: 'json', status: 400, body: { error, error_description: description } };
    };
    if (form.grant_type !== 'authorization_code') return fail('unsupported_grant_type', 'Only refresh_token or authorization_code grant type is supported');
    const app = this.apps.get(clientId);
    if (!app) return fail('invalid_client', `cannot load client with client id: '${clientId}'`);
    if (clientSecret !== app.clientSecret) return fail('unauthorized_client', clientSecret ? 'invalid client secret' : 'invalid empty client secret');
    if (form.redirect_uri && form.redirect_uri !== app.redirectUri) return fail('unauthorized_client', 'unexpected redirect URI');
    const code = this.codes.get(form.code ?? '');
    if (!code || code.clientId !== app.clientId) return fail('unauthorized_client', 'client is not authorized');
    if (!verifies(code, form.code_verifier ?? '')) return fail('unauthorized_client', 'failed PKCE code challenge');
    if (form.redirect_uri !== code.redirectUri) return fail('invalid_grant', 'redirect_uri differs from the original authorization request');
    // Gitea deletes a code when it is exchanged: a second exchange finds none.
    this.codes.delete(form.code!);
    const accessToken = `gta_${randomBytes(20).toString('hex')}`;
    this.tokens.set(accessToken, { login: code.login, scope: code.scope });
    record(200, null);
    return { kind: 'json', status: 200, body: { access_token: accessToken, token_type: 'bearer', expires_in: 3600, refresh_token: `gtr_${randomBytes(20).toString('hex')}` } };
  }
}

/** RFC 7636 §4.6, as Gitea's ValidateCodeChallenge: S256, plain, or no challenge at all. */
function verifies(code: AuthorizationCode, verifier: string): boolean {
  if (code.challengeMethod === 'S256') return createHash('sha256').update(verifier).digest('base64url') === code.challenge;
  if (code.challengeMethod === 'plain') return verifier === code.challenge;
  return code.challenge === '';
}

/** Gitea's User shape (swagger.v1.json) for a person. */
export function giteaUser(person: Pick<GiteaPerson, 'id' | 'login'> & Partial<GiteaPerson>, htmlBase = '') {
  return {
    id: person.id,
    login: person.login,
    login_name: '',
    source_id: 0,
    full_name: person.fullName ?? '',
    email: `${person.login}@noreply.gitea.test`,
    avatar_url: person.avatarUrl ?? '',
    html_url: htmlBase ? `${htmlBase}/${person.login}` : '',
    language: '',
    is_admin: false,
    active: true,
    prohibit_login: false,
    restricted: false,
    visibility: 'public',
    username: person.login,
  };
}
