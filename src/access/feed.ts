import type { IncomingMessage } from 'node:http';
import type { Db } from '../db/connect.js';
import { AppError, forbidden, notFound, unauthorized } from '../errors.js';
import { safeEqual } from '../request/credentials.js';
import type { Caller } from './caller.js';
import { SESSION_COOKIE } from './cookies.js';
import type { HostRule } from './origin.js';
import type { Rights } from './rights.js';
import type { SessionStore } from './sessions.js';

/** Who watches the feed: a machine screen with FEED_TOKEN (every project), or a signed-in person. */
export type FeedViewer = { kind: 'machine' } | { kind: 'person'; caller: Caller };

/** A cookie's value from a Cookie header (the handshake is not a Koa request). */
function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

/**
 * Who may open the feed and what each viewer sees: the handshake's Origin/Host are checked first
 * (a page on another site, or on a rebound name, is refused), then `auth.token` against
 * FEED_TOKEN, else the session cookie. A person sees the projects they can read in Gitea.
 */
export class FeedGate {
  constructor(
    private readonly deps: { feedToken: string | null; sessions: SessionStore | null; hosts: HostRule; rights: Rights; db: Db },
  ) {}

  async admit(req: IncomingMessage, auth: Record<string, unknown> | undefined): Promise<FeedViewer> {
    const refusal = this.deps.hosts.refusal(req.headers);
    if (refusal) throw forbidden(refusal);
    const token = auth?.token;
    const sessionId = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if ((token === undefined || token === '') && sessionId && this.deps.sessions) {
      const session = await this.deps.sessions.find(sessionId);
      if (!session) throw unauthorized('your session has ended or is not valid: sign in with Gitea again');
      return { kind: 'person', caller: { kind: 'person', sessionId, session } };
    }
    const { feedToken } = this.deps;
    if (!feedToken) throw unauthorized(this.deps.sessions ? 'sign in with Gitea to watch the feed (FEED_TOKEN is not configured on the server)' : 'the feed is disabled: FEED_TOKEN is not configured on the server');
    if (typeof token !== 'string' || token === '') throw unauthorized(`missing feed token: connect with auth: {token: FEED_TOKEN}${this.deps.sessions ? ', or sign in with Gitea' : ''}`);
    if (!safeEqual(token, feedToken)) throw unauthorized('invalid feed token');
    return { kind: 'machine' };
  }

  /** The projects a viewer sees; null means every one. */
  async visibleProjects(viewer: FeedViewer): Promise<Set<number> | null> {
    if (viewer.kind === 'machine') return null;
    const readable = await this.deps.rights.readableProjects(viewer.caller);
    return readable ? new Set(readable.map((p) => p.id)) : null;
  }

  /** Refuses (404, or 403 naming read permission) a project the viewer may not see. */
  async requireProject(viewer: FeedViewer, projectId: number): Promise<void> {
    if (viewer.kind === 'machine') return;
    const project = await this.deps.db('projects').where({ id: projectId }).first('repo');
    if (!project) throw notFound(`project ${projectId}`);
    await this.deps.rights.require(viewer.caller, 'read', project.repo as string);
  }
}

/** The message and code a refused handshake carries to the client's connect_error. */
export function handshakeRefusal(err: unknown): { message: string; code: string } | null {
  return err instanceof AppError ? { message: err.message, code: err.code } : null;
}
