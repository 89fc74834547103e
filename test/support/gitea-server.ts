import type http from 'node:http';
import { LocalStandIn, sendJson } from './local-server.js';
import { giteaBranch, giteaCommit, giteaPull } from './gitea-shapes.js';
import { GiteaOAuth, giteaUser, type OAuthReply } from './gitea-oauth.js';

export const GITEA_TOKEN = 'loopback-gitea-token';
export const BOT_LOGIN = 'aiworker-bot';

export interface GiteaComment {
  index: number;
  id: number;
  body: string;
}

export interface GiteaStatus {
  sha: string;
  state: string;
  context: string;
  description: string;
  targetUrl: string;
}

/**
 * A loopback Gitea answering the calls handlers and jobs make — comments (list, post, edit), commit
 * statuses, branch heads, pull requests, collaborator permissions, version, user — with Gitea's response shapes
 * (swagger.v1.json), recording what it was sent. A real server, unlike nock, so services in other
 * processes and browsers can use it (GITEA_URL = url). `failComments` makes every comment call
 * answer an error. It is also the OAuth2 provider people sign in with (`oauth`, see gitea-oauth.ts):
 * `consoleEnv(publicUrl)` registers the application and gives the settings of a service using it.
 */
export class GiteaServer extends LocalStandIn {
  readonly comments: GiteaComment[] = [];
  readonly edits: Array<{ id: number; body: string }> = [];
  readonly statuses: GiteaStatus[] = [];
  readonly requests: Array<{ method: string; path: string; status: number }> = [];
  /** While set, comment posts and edits answer this status. */
  failComments: number | null = null;
  /**
   * Decides, for each comment posted, whether the poster dies while posting it: `before` Gitea
   * stores it (aiworker recorded the reply, nothing is posted) or `after` (posted, but the poster
   * never learns it). `interrupt` then runs (a test's SIGKILL) before Gitea answers.
   */
  interruptComments: ((index: number) => 'before' | 'after' | null) | null = null;
  interrupt: () => Promise<void> = async () => undefined;
  /** Branch heads by branch name, as `GET …/branches/{branch}` answers them (swagger Branch); unknown ones are 404. */
  readonly branches = new Map<string, string>();
  /** Pull requests by number, as `GET …/pulls/{index}` answers them (swagger PullRequest); unknown ones are 404. */
  readonly pulls = new Map<number, Record<string, unknown>>();
  /** Every `POST …/pulls/{index}/merge`, by PR number. */
  readonly mergeCalls: number[] = [];
  /** What a merge answers while set (Gitea's refusals: 409 with its conflict, 405); unset, merges are not served. */
  refuseMerges: { status: number; body: unknown } | null = null;
  /** Reviews by PR number (swagger PullReview), and each review's line comments by review id (PullReviewComment). */
  readonly reviews = new Map<number, Array<Record<string, unknown>>>();
  readonly reviewComments = new Map<number, Array<Record<string, unknown>>>();
  /** The next `count` asks for a review's comments answer `status` (404: not visible yet; 500: Gitea failing). */
  failReviewComments: { status: number; count: number } | null = null;
  /** Scripted failures: the next `pass` comment calls succeed, then `fail` calls answer `status`. */
  private commentScript: { pass: number; fail: number; status: number } | null = null;
  /** Permissions by login, and by `owner/repo` then login (a repository's own answer wins). */
  private readonly permissions = new Map<string, string>();
  private readonly repoPermissions = new Map<string, Map<string, string>>();
  private nextId = 1000;
  readonly oauth = new GiteaOAuth();

  /** Lets the next `pass` comment calls succeed, then fails `fail` of them with `status`. */
  scriptComments(pass: number, fail: number, status = 500): void {
    this.commentScript = { pass, fail, status };
  }

  /**
   * An open PR from `branch` into staging whose head is `headSha`, as `GET …/pulls/{index}` answers
   * it (what a preview deploy asks before deploying); call again when its head moves.
   */
  openPull(index: number, headSha: string, branch = 'task-1-add-login'): void {
    const pull = giteaPull(this.url, { number: index, head: branch, headSha, base: 'staging', baseSha: 'd'.repeat(40) });
    this.pulls.set(index, { ...pull, updated_at: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
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
      const send = (status: number, body: unknown) => {
        this.requests.push({ method, path, status });
        sendJson(res, status, body);
      };
      const raw = Buffer.concat(chunks).toString('utf8');
      if (path.startsWith('/login/oauth/')) return this.answerOAuth(res, method, path, url.searchParams, req.headers, raw);
      const credential = /^(?:token|bearer)\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const holder = credential && credential !== GITEA_TOKEN ? this.oauth.tokenHolder(credential) : null;
      if (holder) {
        // A person's OAuth2 access token: scoped to read:user, it reads who they are and nothing else.
        if (method === 'GET' && path === '/api/v1/user' && /(^|[ ,])(read|write):user\b/.test(holder.scope)) return send(200, giteaUser(holder.person, this.url));
        return send(403, { message: `token does not have at least one of required scope(s), required=[read:repository], token scope=${holder.scope}`, url: `${this.url}/api/swagger` });
      }
      if (credential !== GITEA_TOKEN) return send(401, { message: 'token is required', url: `${this.url}/api/swagger` });
      const body = raw ? JSON.parse(raw) : null;
      const now = new Date().toISOString();

      if (method === 'GET' && path === '/api/v1/version') return send(200, { version: '1.25.4' });
      if (method === 'GET' && path === '/api/v1/user') return send(200, user(99, BOT_LOGIN));
      const permission = /^\/api\/v1\/repos\/([^/]+\/[^/]+)\/collaborators\/([^/]+)\/permission$/.exec(path);
      if (method === 'GET' && permission) {
        const login = decodeURIComponent(permission[2]!);
        const repo = decodeURIComponent(permission[1]!).toLowerCase();
        const granted = this.repoPermissions.get(repo)?.get(login) ?? this.permissions.get(login);
        if (!granted) return send(404, { message: 'user does not exist', url: `${this.url}/api/swagger` });
        return send(200, { permission: granted, role_name: granted, user: user(2, login) });
      }
      const branch = /^\/api\/v1\/repos\/[^/]+\/[^/]+\/branches\/(.+)$/.exec(path);
      if (method === 'GET' && branch) {
        const name = decodeURIComponent(branch[1]!);
        const sha = this.branches.get(name);
        if (!sha) return send(404, { message: 'branch does not exist', url: `${this.url}/api/swagger` });
        const author = { name: 'agent1', email: 'agent1@example.com', username: 'agent1' };
        return send(200, giteaBranch(name, giteaCommit({ id: sha, message: 'Work\n', url: `${this.url}/acme/webapp/commit/${sha}`, author })));
      }
      const merge = /^\/api\/v1\/repos\/[^/]+\/[^/]+\/pulls\/(\d+)\/merge$/.exec(path);
      if (merge && method === 'GET') return send(404, { message: 'pull request has not been merged', url: `${this.url}/api/swagger` });
      if (merge && method === 'POST') {
        this.mergeCalls.push(Number(merge[1]));
        if (this.refuseMerges) return send(this.refuseMerges.status, this.refuseMerges.body);
      }
      const byBranches = /^\/api\/v1\/repos\/[^/]+\/[^/]+\/pulls\/([A-Za-z][^/]*)\/(.+)$/.exec(path);
      if (method === 'GET' && byBranches) {
        const [base, head] = [decodeURIComponent(byBranches[1]!), decodeURIComponent(byBranches[2]!)];
        const found = [...this.pulls.values()].find((p: any) => p.state === 'open' && p.base.ref === base && p.head.ref === head);
        return found ? send(200, found) : send(404, { message: 'pull request does not exist', url: `${this.url}/api/swagger` });
      }
      const pull = /^\/api\/v1\/repos\/[^/]+\/[^/]+\/pulls\/(\d+)(\/reviews(?:\/(\d+)\/comments)?)?$/.exec(path);
      if (method === 'GET' && pull) {
        const index = Number(pull[1]);
        if (!pull[2]) return this.pulls.has(index) ? send(200, this.pulls.get(index)) : send(404, { message: 'pull request does not exist', url: `${this.url}/api/swagger` });
        if (!pull[3]) {
          const reviews = this.reviews.get(index) ?? [];
          res.setHeader('X-Total-Count', String(reviews.length));
          return send(200, reviews);
        }
        const failing = this.failReviewComments;
        if (failing && failing.count > 0) {
          failing.count--;
          return send(failing.status, { message: failing.status === 404 ? 'review does not exist' : 'internal server error (test)', url: `${this.url}/api/swagger` });
        }
        return send(200, this.reviewComments.get(Number(pull[3])) ?? []);
      }
      const status = /^\/api\/v1\/repos\/[^/]+\/[^/]+\/statuses\/([0-9a-f]+)$/.exec(path);
      if (method === 'POST' && status) {
        this.statuses.push({ sha: status[1]!, state: body.state, context: body.context, description: body.description ?? '', targetUrl: body.target_url ?? '' });
        return send(201, { id: this.statuses.length, status: body.state, context: body.context, description: body.description ?? '', target_url: body.target_url ?? '', url: '', creator: user(99, BOT_LOGIN), created_at: now, updated_at: now });
      }
      const newComment = /^\/api\/v1\/repos\/[^/]+\/[^/]+\/issues\/(\d+)\/comments$/.exec(path);
      if (method === 'GET' && newComment) {
        // Gitea answers this list whole, oldest first (its handler reads no page), with X-Total-Count.
        const index = Number(newComment[1]);
        const mine = this.comments.filter((c) => c.index === index).map((c) => commentReply(c.id, c.body, now));
        res.setHeader('X-Total-Count', String(mine.length));
        return send(200, mine);
      }
      const edit = /^\/api\/v1\/repos\/[^/]+\/[^/]+\/issues\/comments\/(\d+)$/.exec(path);
      if ((method === 'POST' && newComment) || (method === 'PATCH' && edit)) {
        if (this.failComments !== null) return send(this.failComments, { message: 'internal server error (test)', url: `${this.url}/api/swagger` });
        const script = this.commentScript;
        if (script && script.pass > 0) script.pass--;
        else if (script && script.fail > 0) {
          script.fail--;
          return send(script.status, { message: 'internal server error (test)', url: `${this.url}/api/swagger` });
        }
        if (newComment) {
          const comment = { index: Number(newComment[1]), id: this.nextId++, body: body.body as string };
          const dies = this.interruptComments?.(comment.index) ?? null;
          if (dies === 'before') return void this.interrupt().then(() => send(500, { message: 'poster gone (test)', url: `${this.url}/api/swagger` }));
          this.comments.push(comment);
          if (dies === 'after') return void this.interrupt().then(() => send(201, commentReply(comment.id, comment.body, now)));
          return send(201, commentReply(comment.id, comment.body, now));
        }
        const id = Number(edit![1]);
        this.edits.push({ id, body: body.body });
        return send(200, commentReply(id, body.body, now));
      }
      send(404, { message: 'not found', url: `${this.url}/api/swagger` });
    });
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

function commentReply(id: number, body: string, at: string) {
  return { id, html_url: '', pull_request_url: '', issue_url: '', user: user(99, BOT_LOGIN), original_author: '', original_author_id: 0, body, assets: [], created_at: at, updated_at: at };
}
