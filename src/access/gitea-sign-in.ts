import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AppError, badRequest } from '../errors.js';
import type { Person } from './sessions.js';

export interface SignInSettings {
  giteaUrl: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

/**
 * The narrowest scope that lets the token read who signed in. Without a scope Gitea grants the
 * token full access to the person's account; aiworker never uses the token for anything else
 * (permissions are looked up with the bot's token), and does not keep it.
 */
export const SIGN_IN_SCOPE = 'read:user';

const tokenAnswer = z.object({ access_token: z.string().min(1) });
const tokenRefusal = z.object({ error: z.string(), error_description: z.string().optional() });
const giteaUser = z.object({ id: z.number(), login: z.string().min(1), full_name: z.string().optional(), avatar_url: z.string().optional() });

/** RFC 7636 S256: the challenge sent at authorization is the SHA-256 of the verifier sent at exchange. */
export const codeChallenge = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

/**
 * Gitea as the OAuth2 provider (authorization-code flow with PKCE S256). Endpoints are built from
 * GITEA_URL, not discovered: Gitea 1.25 changed the trailing slash of its discovery issuer.
 */
export class GiteaSignIn {
  constructor(
    private readonly settings: SignInSettings,
    private readonly timeoutMs = 10_000,
  ) {}

  /** Where /auth/login sends the browser. */
  authorizeUrl(state: string, verifier: string): string {
    const url = new URL(`${this.settings.giteaUrl}/login/oauth/authorize`);
    url.search = new URLSearchParams({
      client_id: this.settings.clientId,
      redirect_uri: this.settings.redirectUri,
      response_type: 'code',
      state,
      code_challenge: codeChallenge(verifier),
      code_challenge_method: 'S256',
      scope: SIGN_IN_SCOPE,
    }).toString();
    return url.toString();
  }

  /** Exchanges the code and reads the person it was granted for; a refused code is a 400, Gitea unreachable a 502. */
  async person(code: string, verifier: string): Promise<Person> {
    const exchanged = await this.call(`${this.settings.giteaUrl}/login/oauth/access_token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: this.settings.redirectUri,
        client_id: this.settings.clientId,
        client_secret: this.settings.clientSecret,
        code_verifier: verifier,
      }).toString(),
    });
    if (exchanged.status >= 400 && exchanged.status < 500) {
      const refusal = tokenRefusal.safeParse(exchanged.body);
      const why = refusal.success ? `${refusal.data.error}${refusal.data.error_description ? `: ${refusal.data.error_description}` : ''}` : `status ${exchanged.status}`;
      throw badRequest(`Gitea refused the sign-in code (${why}); sign in again`);
    }
    const token = tokenAnswer.safeParse(exchanged.body);
    if (exchanged.status !== 200 || !token.success) throw giteaFailed(`its token endpoint answered ${exchanged.status} without an access token`);

    const me = await this.call(`${this.settings.giteaUrl}/api/v1/user`, {
      headers: { authorization: `Bearer ${token.data.access_token}`, accept: 'application/json' },
    });
    const user = giteaUser.safeParse(me.body);
    if (me.status !== 200 || !user.success) throw giteaFailed(`GET /api/v1/user answered ${me.status}${user.success ? '' : ' without a user'}`);
    return { giteaUserId: user.data.id, login: user.data.login, fullName: user.data.full_name ?? '', avatarUrl: user.data.avatar_url ?? '' };
  }

  private async call(url: string, init: RequestInit): Promise<{ status: number; body: unknown }> {
    let res: Response;
    try {
      res = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw giteaFailed(`it could not be reached (${(err as Error).message})`);
    }
    const text = await res.text();
    try {
      return { status: res.status, body: text ? JSON.parse(text) : null };
    } catch {
      return { status: res.status, body: null };
    }
  }
}

const giteaFailed = (why: string) => new AppError(502, 'gitea_unavailable', `signing in with Gitea failed: ${why}; try again`);
