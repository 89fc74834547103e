import type http from 'node:http';
import { LocalStandIn, sendJson } from './local-server.js';
import { giteaPull } from './gitea-shapes.js';
import { GiteaOAuth, giteaUser, type OAuthReply } from './gitea-oauth.js';
import { GiteaRepo, type Answer, type GiteaPullJson } from './gitea-repo.js';

export const GITEA_TOKEN = 'loopback-gitea-token';
export const BOT_LOGIN = 'aiworker-bot';
/** The repository tests use unless they name another. */
export const DEFAULT_REPO = 'acme/webapp';

export interface GiteaComment {
  /** "owner/name" of the repository it is on. */
  repo: string;
  index: number;
  id: number;
  body: string;
}

export interface GiteaStatus {
  repo: string;
  sha: string;
  state: string;
  context: string;
  description: string;
  targetUrl: string;
}

/**
 * The stand-in Gitea every test uses: a real HTTP server on loopback (GITEA_URL = url), so the
 * service under test calls it through its real client, in this process or another, and browsers
 * sign in with it. It answers the calls handlers, jobs and tools make with Gitea's response shapes
 * (swagger.v1.json) and records what it was sent: comments (list, post, edit), commit statuses,
 * collaborator permissions, version and user here; branches, pull requests (opened, found,
 * merged), reviews and webhooks per repository (`repo(name)`, gitea-repo.ts). Failures are
 * scripted: `failComments`, `scriptComments`, `interruptComments`, `failReviewComments`, and
 * `repo(name).script(…)` for any route of a repository. It is also the OAuth2 provider people sign
 * in with (`oauth`, see gitea-oauth.ts): `consoleEnv(publicUrl)` registers the application and
 * gives the settings of a service using it.
 */
export class GiteaServer extends LocalStandIn {
  readonly comments: GiteaComment[] = [];
  readonly edits: Array<{ id: number; body: string }> = [];
  readonly statuses: GiteaStatus[] = [];
  readonly requests: Array<{ method: string; path: string; status: number }> = [];
  /** Logins whose permission was asked for, in order. */
  readonly permissionAsks: string[] = [];
  /** Calls no route of this Gitea knows (answered 404): a test that expects none checks this is empty. */
  readonly unknown: string[] = [];
  /** While set, comment posts and edits answer this status. */
  failComments: number | null = null;
  /**
   * Decides, for each comment posted, whether its poster never learns how it went: `before` Gitea
   * stores it (500, nothing posted) or `after` (stored, and the connection drops before the answer),
   * which is what a poster dying mid-post leaves. `interrupt` runs first (a test's SIGKILL).
   */
  interruptComments: ((index: number) => 'before' | 'after' | null) | null = null;
  interrupt: () => Promise<void> = async () => undefined;
  /** The next `count` asks for a review's comments answer `status` (404: not visible yet; 500: Gitea failing). */
  failReviewComments: { status: number; count: number } | null = null;
  /** Every `POST …/pulls/{index}/merge` of any repository, by PR number (each repository keeps its own with bodies). */
  readonly mergeCalls: number[] = [];
  /** While set, every merge answers this (Gitea's refusals: 409 with its conflict, 405). */
  refuseMerges: { status: number; body: unknown } | null = null;
  readonly oauth = new GiteaOAuth();
  /** Scripted failures: the next `pass` comment calls succeed, then `fail` calls answer `status`. */
  private commentScript: { pass: number; fail: number; status: number } | null = null;
  /** Permissions by login, and by `owner/repo` then login (a repository's own answer wins). */
  private readonly permissions = new Map<string, string>();
  private readonly repoPermissions = new Map<string, Map<string, string>>();
  private readonly repos = new Map<string, GiteaRepo>();
  private nextId = 1000;

  /** A repository ("owner/name"), made on first use with `main` at MAIN_SHA. */
  repo(fullName = DEFAULT_REPO): GiteaRepo {
    const key = fullName.toLowerCase();
    let repo = this.repos.get(key);
    if (!repo) this.repos.set(key, (repo = new GiteaRepo(fullName, this.url)));
    return repo;
  }

  /** The default repository's branches, pull requests and reviews. */
  get branches(): Map<string, string> {
    return this.repo().branches;
  }
  get pulls(): Map<number, GiteaPullJson> {
    return this.repo().pulls;
  }
  get reviews(): Map<number, Array<Record<string, unknown>>> {
    return this.repo().reviews;
  }
  get reviewComments(): Map<number, Array<Record<string, unknown>>> {
    return this.repo().reviewComments;
  }

  /** Forgets what was sent and every repository (permissions and OAuth stay). */
  reset(): void {
    for (const list of [this.comments, this.edits, this.statuses, this.requests, this.permissionAsks, this.unknown, this.mergeCalls]) list.length = 0;
    this.repos.clear();
    this.refuseMerges = null;
    this.failComments = null;
    this.interruptComments = null;
    this.failReviewComments = null;
    this.commentScript = null;
  }

  /** Lets the next `pass` comment calls succeed, then fails `fail` of them with `status`. */
  scriptComments(pass: number, fail: number, status = 500): void {
    this.commentScript = { pass, fail, status };
  }

  /**
   * An open PR of `repo` from `branch` into staging whose head is `headSha`, as `GET …/pulls/{index}`
   * answers it (what a preview deploy asks before deploying); call again when its head moves.
   */
  openPull(index: number, headSha: string, branch = 'task-1-add-login', repo = DEFAULT_REPO): void {
    const pull = giteaPull(this.url, { number: index, head: branch, headSha, base: 'staging', baseSha: 'd'.repeat(40), repo });
    this.repo(repo).pulls.set(index, { ...pull, updated_at: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
  }

  /** What the settings of a service using this Gitea are. */
  env(): Record<string, string> {
    return { GITEA_URL: this.url, GITEA_TOKEN, GITEA_BOT_LOGIN: BOT_LOGIN };
  }

  /**
   * The settings of a service whose console signs people in with this Gitea: registers the OAuth2
   * application with redirect URI `<publicUrl>/auth/callback`.
   */
  consoleEnv(publicUrl: string): Record<string, string> {
    const app = this.oauth.register(`${publicUrl.replace(/\/+$/, '')}/auth/callback`);
    return { ...this.env(), PUBLIC_URL: publicUrl, GITEA_OAUTH_CLIENT_ID: app.clientId, GITEA_OAUTH_CLIENT_SECRET: app.clientSecret };
  }

  /** What `GET …/collaborators/{login}/permission` answers: for every repository, or for `repo` ("owner/name") only. */
  setPermission(login: string, permission: string, repo?: string): void {
    if (!repo) return void this.permissions.set(login, permission);
    const key = repo.toLowerCase();
    if (!this.repoPermissions.has(key)) this.repoPermissions.set(key, new Map());
    this.repoPermissions.get(key)!.set(login, permission);
  }

  protected answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://gitea.invalid');
    const path = url.pathname;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = ([status, body]: Answer, headers: Record<string, string> = {}) => {
        this.requests.push({ method, path, status });
        if (res.destroyed) return;
        for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
        if (body === undefined || status === 204) return void res.writeHead(status).end();
        sendJson(res, status, body);
      };
      const raw = Buffer.concat(chunks).toString('utf8');
      if (path.startsWith('/login/oauth/')) return this.answerOAuth(res, method, path, url.searchParams, req.headers, raw);
      const credential = /^(?:token|bearer)\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const holder = credential && credential !== GITEA_TOKEN ? this.oauth.tokenHolder(credential) : null;
      if (holder) {
        // A person's OAuth2 access token: scoped to read:user, it reads who they are and nothing else.
        if (method === 'GET' && path === '/api/v1/user' && /(^|[ ,])(read|write):user\b/.test(holder.scope)) return send([200, giteaUser(holder.person, this.url)]);
        return send([403, this.error(`token does not have at least one of required scope(s), required=[read:repository], token scope=${holder.scope}`)]);
      }
      if (credential !== GITEA_TOKEN) return send([401, this.error('token is required')]);
      const body = raw ? JSON.parse(raw) : null;

      if (method === 'GET' && path === '/api/v1/version') return send([200, { version: '1.25.4' }]);
      if (method === 'GET' && path === '/api/v1/user') return send([200, user(99, BOT_LOGIN)]);
      const inRepo = /^\/api\/v1\/repos\/([^/]+\/[^/]+)(\/.*)$/.exec(path);
      if (!inRepo) return this.unknownCall(method, path, send);
      const repo = this.repo(decodeURIComponent(inRepo[1]!));
      const rest = inRepo[2]!;
      repo.record(method, rest, body);
      const merge = method === 'POST' ? /^\/pulls\/(\d+)\/merge$/.exec(rest) : null;
      if (merge) this.mergeCalls.push(Number(merge[1]));
      const scripted = repo.take(`${method} ${rest}`) ?? (merge && this.refuseMerges ? ([this.refuseMerges.status, this.refuseMerges.body] as Answer) : null);
      if (scripted) return send(scripted);
      if (this.answerIssues(repo, method, rest, body, send, () => res.destroy())) return;
      const answer = repo.answer(method, rest, url.search, body);
      if (answer) return send(answer, method === 'GET' && Array.isArray(answer[1]) ? { 'X-Total-Count': String(answer[1].length) } : {});
      this.unknownCall(method, path, send);
    });
  }

  /** Permissions, commit statuses, comments and reviews: what aiworker says on and asks of a repository. */
  private answerIssues(repo: GiteaRepo, method: string, rest: string, body: any, send: (a: Answer, h?: Record<string, string>) => void, drop: () => void): boolean {
    const now = new Date().toISOString();
    const permission = /^\/collaborators\/([^/]+)\/permission$/.exec(rest);
    if (method === 'GET' && permission) {
      const login = decodeURIComponent(permission[1]!);
      this.permissionAsks.push(login);
      const granted = this.repoPermissions.get(repo.fullName.toLowerCase())?.get(login) ?? this.permissions.get(login);
      send(granted ? [200, { permission: granted, role_name: granted, user: user(2, login) }] : [404, this.error('user does not exist')]);
      return true;
    }
    const status = /^\/statuses\/([0-9a-f]+)$/.exec(rest);
    if (method === 'POST' && status) {
      this.statuses.push({ repo: repo.fullName, sha: status[1]!, state: body.state, context: body.context, description: body.description ?? '', targetUrl: body.target_url ?? '' });
      send([201, { id: this.statuses.length, status: body.state, context: body.context, description: body.description ?? '', target_url: body.target_url ?? '', url: '', creator: user(99, BOT_LOGIN), created_at: now, updated_at: now }]);
      return true;
    }
    const review = /^\/pulls\/(\d+)\/reviews(?:\/(\d+)\/comments)?$/.exec(rest);
    if (method === 'GET' && review) {
      const failing = this.failReviewComments;
      if (!review[2]) send([200, repo.reviews.get(Number(review[1])) ?? []], { 'X-Total-Count': String(repo.reviews.get(Number(review[1]))?.length ?? 0) });
      else if (failing && failing.count > 0) {
        failing.count--;
        send([failing.status, this.error(failing.status === 404 ? 'review does not exist' : 'internal server error (test)')]);
      } else send([200, repo.reviewComments.get(Number(review[2])) ?? []]);
      return true;
    }
    const onIssue = /^\/issues\/(\d+)\/comments$/.exec(rest);
    if (method === 'GET' && onIssue) {
      // Gitea answers this list whole, oldest first (its handler reads no page), with X-Total-Count.
      const mine = this.comments.filter((c) => c.repo === repo.fullName && c.index === Number(onIssue[1])).map((c) => this.commentReply(c, now));
      send([200, mine], { 'X-Total-Count': String(mine.length) });
      return true;
    }
    const edit = /^\/issues\/comments\/(\d+)$/.exec(rest);
    if (!(method === 'POST' && onIssue) && !(method === 'PATCH' && edit)) return false;
    const failure = this.commentFailure();
    if (failure !== null) send([failure, this.error('internal server error (test)')]);
    else if (onIssue) this.postComment({ repo: repo.fullName, index: Number(onIssue[1]), id: this.nextId++, body: body.body as string }, now, send, drop);
    else {
      const comment = this.comments.find((c) => c.id === Number(edit![1]));
      if (comment) comment.body = body.body;
      this.edits.push({ id: Number(edit![1]), body: body.body });
      send([200, this.commentReply(comment ?? { repo: repo.fullName, index: 0, id: Number(edit![1]), body: body.body }, now)]);
    }
    return true;
  }

  /** The status a comment call fails with now, if any (`failComments`, then `scriptComments`). */
  private commentFailure(): number | null {
    if (this.failComments !== null) return this.failComments;
    const script = this.commentScript;
    if (script && script.pass > 0) script.pass--;
    else if (script && script.fail > 0) {
      script.fail--;
      return script.status;
    }
    return null;
  }

  private postComment(comment: GiteaComment, now: string, send: (a: Answer) => void, drop: () => void): void {
    const dies = this.interruptComments?.(comment.index) ?? null;
    if (dies === 'before') return void this.interrupt().then(() => send([500, this.error('poster gone (test)')]));
    this.comments.push(comment);
    if (dies !== 'after') return send([201, this.commentReply(comment, now)]);
    // Stored, and the answer never arrives.
    void this.interrupt().then(() => {
      this.requests.push({ method: 'POST', path: `/api/v1/repos/${comment.repo}/issues/${comment.index}/comments`, status: 0 });
      drop();
    });
  }

  private unknownCall(method: string, path: string, send: (a: Answer) => void): void {
    this.unknown.push(`${method} ${path}`);
    send([404, this.error('not found')]);
  }

  private commentReply(c: GiteaComment, at: string) {
    const pr = `${this.url}/${c.repo}/pulls/${c.index}`;
    return { id: c.id, html_url: `${pr}#issuecomment-${c.id}`, pull_request_url: pr, issue_url: '', user: user(99, BOT_LOGIN), original_author: '', original_author_id: 0, body: c.body, assets: [], created_at: at, updated_at: at };
  }

  private error(message: string) {
    return { message, url: `${this.url}/api/swagger` };
  }

  private answerOAuth(res: http.ServerResponse, method: string, path: string, query: URLSearchParams, headers: http.IncomingHttpHeaders, raw: string): void {
    let reply: OAuthReply;
    if (method === 'GET' && path === '/login/oauth/authorize') reply = this.oauth.authorize(query);
    else if (method === 'POST' && path === '/login/oauth/access_token') {
      // Gitea binds the form from either encoding.
      const form = /json/.test(headers['content-type'] ?? '') ? (JSON.parse(raw || '{}') as Record<string, string>) : Object.fromEntries(new URLSearchParams(raw));
      reply = this.oauth.accessToken(form, headers.authorization);
    } else reply = { kind: 'html', status: 404, text: 'not found' };
    this.requests.push({ method, path, status: reply.kind === 'redirect' ? 303 : reply.status });
    if (res.destroyed) return;
    if (reply.kind === 'json') return sendJson(res, reply.status, reply.body);
    if (reply.kind === 'redirect') {
      res.writeHead(303, { location: reply.location });
      return void res.end();
    }
    res.writeHead(reply.status, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>Gitea</title><p>${reply.text.replace(/</g, '&lt;')}</p>`);
  }
}

export async function startGiteaServer(): Promise<GiteaServer> {
  return new GiteaServer().start();
}

function user(id: number, login: string) {
  return giteaUser({ id, login });
}
