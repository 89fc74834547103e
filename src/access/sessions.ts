import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/connect.js';

/** How long a session lasts from sign-in; then the person signs in with Gitea again. */
export const SESSION_TTL_MS = 7 * 24 * 3600 * 1000;
/** How long a sign-in may take between /auth/login and Gitea sending the person back. */
export const SIGN_IN_TTL_MS = 10 * 60 * 1000;

/** Who a session belongs to: their Gitea identity, read once at sign-in. */
export interface Person {
  giteaUserId: number;
  login: string;
  fullName: string;
  avatarUrl: string;
}

export interface Session extends Person {
  csrfToken: string;
  expiresAt: Date;
}

interface SessionRow {
  id_hash: string;
  gitea_user_id: number | string;
  login: string;
  full_name: string;
  avatar_url: string;
  csrf_token: string;
  expires_at: Date;
}

/** 256 random bits, URL-safe. */
export const randomToken = () => randomBytes(32).toString('base64url');

/** What is stored in place of a secret: its SHA-256 (the secrets are random, so no salt is needed). */
export const hashOf = (secret: string) => createHash('sha256').update(secret).digest('hex');

/**
 * Sessions and sign-ins under way, in MySQL. The session id lives only in the person's cookie;
 * the table keeps its hash, so neither a database copy nor a log line can open a session.
 */
export class SessionStore {
  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Starts a session; the returned id goes into the cookie and nowhere else. */
  async start(person: Person): Promise<{ id: string; session: Session }> {
    const id = randomToken();
    const session: Session = { ...person, csrfToken: randomToken(), expiresAt: new Date(this.now().getTime() + SESSION_TTL_MS) };
    await this.db('console_sessions').insert({
      id_hash: hashOf(id),
      gitea_user_id: person.giteaUserId,
      login: person.login,
      full_name: person.fullName.slice(0, 255),
      avatar_url: person.avatarUrl.slice(0, 1000),
      csrf_token: session.csrfToken,
      expires_at: session.expiresAt,
    });
    return { id, session };
  }

  /** The live session a cookie's id names, or null (unknown, forged or expired). */
  async find(id: string): Promise<Session | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const row = await this.db<SessionRow>('console_sessions').where({ id_hash: hashOf(id) }).where('expires_at', '>', this.now()).first();
    if (!row) return null;
    return {
      giteaUserId: Number(row.gitea_user_id),
      login: row.login,
      fullName: row.full_name,
      avatarUrl: row.avatar_url,
      csrfToken: row.csrf_token,
      expiresAt: row.expires_at,
    };
  }

  async end(id: string): Promise<void> {
    await this.db('console_sessions').where({ id_hash: hashOf(id) }).delete();
  }

  /** Remembers a sign-in under way; `state` itself travels only to Gitea and back (and in the browser's cookie). */
  async beginSignIn(state: string, codeVerifier: string, nextPath: string): Promise<void> {
    await this.db('console_sign_ins').insert({
      state_hash: hashOf(state),
      code_verifier: codeVerifier,
      next_path: nextPath,
      expires_at: new Date(this.now().getTime() + SIGN_IN_TTL_MS),
    });
  }

  /**
   * Takes the sign-in `state` names, once: of two callbacks with the same state only one gets it
   * (the row is deleted by the one that reads it), and an expired one is nobody's.
   */
  async takeSignIn(state: string): Promise<{ codeVerifier: string; nextPath: string } | null> {
    const key = { state_hash: hashOf(state) };
    const row = await this.db<{ code_verifier: string; next_path: string; expires_at: Date }>('console_sign_ins').where(key).first();
    if (!row) return null;
    const taken = await this.db('console_sign_ins').where(key).delete();
    if (taken !== 1 || row.expires_at.getTime() <= this.now().getTime()) return null;
    return { codeVerifier: row.code_verifier, nextPath: row.next_path };
  }

  /** Deletes expired sessions and abandoned sign-ins; returns how many rows went. */
  async prune(): Promise<number> {
    const now = this.now();
    const sessions = await this.db('console_sessions').where('expires_at', '<=', now).delete();
    const signIns = await this.db('console_sign_ins').where('expires_at', '<=', now).delete();
    return sessions + signIns;
  }
}
