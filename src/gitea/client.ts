import { STATUS_CODES } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  CommitState,
  GiteaApiError,
  GiteaBranch,
  GiteaComment,
  GiteaCommitStatus,
  GiteaHook,
  GiteaHookOption,
  GiteaLabel,
  GiteaPullRequest,
  GiteaRepoCollaboratorPermission,
  GiteaRepository,
  GiteaServerVersion,
  GiteaUser,
  MergeStyle,
  Permission,
} from './types.js';

export type * from './types.js';

export interface GiteaLogger {
  warn(obj: object, msg: string): void;
  debug?(obj: object, msg: string): void;
}

export interface GiteaClientOptions {
  /** e.g. https://gitea.example.com; the client appends /api/v1 */
  baseUrl: string;
  /** sent as `Authorization: token <TOKEN>`; never logged nor put in errors */
  token: string;
  /** per attempt; default 10000 */
  timeoutMs?: number;
  /** extra attempts after the first; default 4 */
  retries?: number;
  /** exponential backoff base, with jitter; default 250 */
  retryBaseMs?: number;
  logger?: GiteaLogger;
}

type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

interface GiteaErrorInit {
  method: string;
  path: string;
  /** null when no response arrived (network error, timeout) */
  status: number | null;
  giteaMessage: string;
  retryable: boolean;
  /** what happened when there is no status */
  reason?: string;
  attempts: number;
  hint?: string;
  cause?: unknown;
}

/** A failed Gitea call. `giteaMessage` is Gitea's own `message`, for replies to users. */
export class GiteaError extends Error {
  readonly status: number | null;
  readonly giteaMessage: string;
  readonly method: string;
  readonly path: string;
  readonly retryable: boolean;
  readonly attempts: number;

  constructor(init: GiteaErrorInit) {
    const what = init.status === null ? init.reason : `${init.status} ${STATUS_CODES[init.status] ?? ''}`.trim();
    super(
      `Gitea ${init.method} ${init.path} failed: ${what}` +
        (init.giteaMessage ? ` (${init.giteaMessage})` : '') +
        (init.attempts > 1 ? ` after ${init.attempts} attempts` : '') +
        (init.hint ? `; ${init.hint}` : ''),
      { cause: init.cause },
    );
    this.name = 'GiteaError';
    this.status = init.status;
    this.giteaMessage = init.giteaMessage;
    this.method = init.method;
    this.path = init.path;
    this.retryable = init.retryable;
    this.attempts = init.attempts;
  }
}

export function isGiteaStatus(err: unknown, status: number): err is GiteaError {
  return err instanceof GiteaError && err.status === status;
}

interface CallOptions {
  body?: unknown;
  /** extra explanation appended to the error for a given status */
  hints?: Partial<Record<number, string>>;
}

interface Reply {
  status: number;
  text: string;
}

type Attempt = { ok: true; reply: Reply } | { ok: false; error: GiteaError; retryAfterMs: number };

const PERMISSIONS: ReadonlySet<string> = new Set<Permission>(['none', 'read', 'write', 'admin', 'owner']);
/** Caps how long a Retry-After can hold one call (and the job waiting on it). */
const MAX_RETRY_AFTER_MS = 30_000;
const MAX_MESSAGE_CHARS = 300;
const HOOK_HINTS = (owner: string, repo: string): Partial<Record<number, string>> => ({
  403: `the bot's Gitea account must be an admin of ${owner}/${repo} (or an owner of its organisation) to manage its webhooks, with a token scoped write:repository`,
  404: `Gitea knows no repository ${owner}/${repo} that the bot can see`,
});

const seg = encodeURIComponent;

/**
 * Branch names in Gitea's wildcard routes (`/branches/*`, the head of `/pulls/{base}/*`) keep
 * their slashes literal: Gitea takes the rest of the path as the name, and literal slashes get
 * through reverse proxies that reject or decode `%2F`.
 */
const refPath = (ref: string) => ref.split('/').map(encodeURIComponent).join('/');

const repoPath = (owner: string, repo: string) => `/repos/${seg(owner)}/${seg(repo)}`;

export class GiteaClient {
  readonly #apiUrl: string;
  readonly #authorization: string;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #retryBaseMs: number;
  readonly #logger: GiteaLogger | undefined;

  constructor(opts: GiteaClientOptions) {
    // Fail at wiring time rather than on every call, where it would look like a network error.
    const base = new URL(opts.baseUrl);
    this.#apiUrl = `${base.origin}${base.pathname.replace(/\/+$/, '')}/api/v1`;
    this.#token = opts.token;
    this.#authorization = `token ${opts.token}`;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#retries = opts.retries ?? 4;
    this.#retryBaseMs = opts.retryBaseMs ?? 250;
    this.#logger = opts.logger;
  }

  async getVersion(): Promise<string> {
    return (await this.#json<GiteaServerVersion>('GET', '/version')).version;
  }

  getCurrentUser(): Promise<GiteaUser> {
    return this.#json('GET', '/user');
  }

  getRepo(owner: string, repo: string): Promise<GiteaRepository> {
    return this.#json('GET', repoPath(owner, repo));
  }

  getBranch(owner: string, repo: string, branch: string): Promise<GiteaBranch | null> {
    return nullOn404(this.#json<GiteaBranch>('GET', `${repoPath(owner, repo)}/branches/${refPath(branch)}`));
  }

  /** `fromRef` is a branch, tag or sha; Gitea uses the default branch without it. 409 if it exists. */
  createBranch(owner: string, repo: string, newBranch: string, fromRef?: string): Promise<GiteaBranch> {
    return this.#json('POST', `${repoPath(owner, repo)}/branches`, {
      body: { new_branch_name: newBranch, old_ref_name: fromRef },
    });
  }

  async ensureBranch(owner: string, repo: string, branch: string, fromRef: string): Promise<GiteaBranch> {
    const existing = await this.getBranch(owner, repo, branch);
    if (existing) return existing;
    try {
      return await this.createBranch(owner, repo, branch, fromRef);
    } catch (err) {
      // Someone else (or our own retried POST) created it in between.
      if (!isGiteaStatus(err, 409)) throw err;
      const raced = await this.getBranch(owner, repo, branch);
      if (raced) return raced;
      throw err;
    }
  }

  getPull(owner: string, repo: string, index: number): Promise<GiteaPullRequest> {
    return this.#json('GET', `${repoPath(owner, repo)}/pulls/${index}`);
  }

  /** The merged PR whose merge made commit `sha` (`GET …/commits/{sha}/pull`), or null. */
  mergedPullOf(owner: string, repo: string, sha: string): Promise<GiteaPullRequest | null> {
    return nullOn404(this.#json<GiteaPullRequest>('GET', `${repoPath(owner, repo)}/commits/${seg(sha)}/pull`));
  }

  /** The open PR from `head` into `base` (Gitea 1.22+); `head` may be `owner:branch` for a fork. */
  findPull(owner: string, repo: string, base: string, head: string): Promise<GiteaPullRequest | null> {
    return nullOn404(this.#json<GiteaPullRequest>('GET', `${repoPath(owner, repo)}/pulls/${seg(base)}/${refPath(head)}`));
  }

  listPulls(
    owner: string,
    repo: string,
    q: { state?: 'open' | 'closed' | 'all'; limit?: number; page?: number } = {},
  ): Promise<GiteaPullRequest[]> {
    const query = new URLSearchParams();
    if (q.state !== undefined) query.set('state', q.state);
    if (q.limit !== undefined) query.set('limit', String(q.limit));
    if (q.page !== undefined) query.set('page', String(q.page));
    const qs = query.toString();
    return this.#json('GET', `${repoPath(owner, repo)}/pulls${qs ? `?${qs}` : ''}`);
  }

  /** 409 when an open PR from head to base already exists. */
  createPull(
    owner: string,
    repo: string,
    o: { head: string; base: string; title: string; body?: string },
  ): Promise<GiteaPullRequest> {
    return this.#json('POST', `${repoPath(owner, repo)}/pulls`, {
      body: { head: o.head, base: o.base, title: o.title, body: o.body },
    });
  }

  /**
   * Pass `headCommitId` (the sha that was checked) so Gitea refuses with 409 if the head moved.
   * A retry after a lost response can meet 405 because the first attempt merged: check isMerged.
   */
  async mergePull(
    owner: string,
    repo: string,
    index: number,
    o: { style: MergeStyle; headCommitId?: string; title?: string; message?: string; deleteBranchAfterMerge?: boolean },
  ): Promise<void> {
    // These keys are Gitea's form field names, which have no JSON tags: hence the casing.
    await this.#call('POST', `${repoPath(owner, repo)}/pulls/${index}/merge`, {
      body: {
        Do: o.style,
        MergeTitleField: o.title,
        MergeMessageField: o.message,
        head_commit_id: o.headCommitId,
        delete_branch_after_merge: o.deleteBranchAfterMerge,
      },
    });
  }

  async isMerged(owner: string, repo: string, index: number): Promise<boolean> {
    try {
      await this.#call('GET', `${repoPath(owner, repo)}/pulls/${index}/merge`);
      return true;
    } catch (err) {
      if (isGiteaStatus(err, 404)) return false;
      throw err;
    }
  }

  /** PRs are issues here: `index` is the PR number. */
  createComment(owner: string, repo: string, index: number, body: string): Promise<GiteaComment> {
    return this.#json('POST', `${repoPath(owner, repo)}/issues/${index}/comments`, { body: { body } });
  }

  editComment(owner: string, repo: string, commentId: number, body: string): Promise<GiteaComment> {
    return this.#json('PATCH', `${repoPath(owner, repo)}/issues/comments/${commentId}`, { body: { body } });
  }

  async setCommitStatus(
    owner: string,
    repo: string,
    sha: string,
    o: { state: CommitState; context: string; description?: string; targetUrl?: string },
  ): Promise<GiteaCommitStatus> {
    const raw = await this.#json<Omit<GiteaCommitStatus, 'state' | 'status'> & Partial<Pick<GiteaCommitStatus, 'state' | 'status'>>>(
      'POST',
      `${repoPath(owner, repo)}/statuses/${seg(sha)}`,
      { body: { state: o.state, context: o.context, description: o.description, target_url: o.targetUrl } },
    );
    // The response calls it `status`; expose both names with the same value.
    const state = raw.status ?? raw.state ?? o.state;
    return { ...raw, state, status: state };
  }

  /** The user's access to the repo. Unknown users get 'none'; the bot must be a repo admin to ask. */
  async getPermission(owner: string, repo: string, username: string): Promise<Permission> {
    let reply: GiteaRepoCollaboratorPermission;
    try {
      reply = await this.#json('GET', `${repoPath(owner, repo)}/collaborators/${seg(username)}/permission`, {
        hints: {
          403: `the bot's Gitea account must be an admin of ${owner}/${repo} (or an owner of the organisation, or a site admin) to read other users' permissions`,
        },
      });
    } catch (err) {
      if (isGiteaStatus(err, 404)) return 'none';
      throw err;
    }
    if (PERMISSIONS.has(reply.permission)) return reply.permission as Permission;
    // Fail closed: a value this code does not know must not grant anything.
    this.#logger?.warn({ owner, repo, username, permission: reply.permission }, 'unknown Gitea permission, treated as none');
    return 'none';
  }

  /** Labels by id or by name; Gitea accepts either. */
  addLabels(owner: string, repo: string, index: number, labels: Array<string | number>): Promise<GiteaLabel[]> {
    return this.#json('POST', `${repoPath(owner, repo)}/issues/${index}/labels`, { body: { labels } });
  }

  /** Every webhook of the repository, page by page (Gitea caps a page at its MAX_RESPONSE_ITEMS). */
  async listHooks(owner: string, repo: string): Promise<GiteaHook[]> {
    const hooks: GiteaHook[] = [];
    for (let page = 1; ; page++) {
      const batch = await this.#json<GiteaHook[]>('GET', `${repoPath(owner, repo)}/hooks?page=${page}&limit=50`, { hints: HOOK_HINTS(owner, repo) });
      hooks.push(...batch);
      if (batch.length < 50) return hooks;
    }
  }

  createHook(owner: string, repo: string, hook: GiteaHookOption): Promise<GiteaHook> {
    return this.#json('POST', `${repoPath(owner, repo)}/hooks`, { body: hook, hints: HOOK_HINTS(owner, repo) });
  }

  /** Gitea's PATCH rebuilds the hook's events and branch filter from the body: send the full set. */
  editHook(owner: string, repo: string, id: number, hook: Omit<GiteaHookOption, 'type'>): Promise<GiteaHook> {
    return this.#json('PATCH', `${repoPath(owner, repo)}/hooks/${id}`, { body: hook, hints: HOOK_HINTS(owner, repo) });
  }

  async deleteHook(owner: string, repo: string, id: number): Promise<void> {
    await this.#call('DELETE', `${repoPath(owner, repo)}/hooks/${id}`, { hints: HOOK_HINTS(owner, repo) });
  }

  async #json<T>(method: HttpMethod, path: string, opts: CallOptions = {}): Promise<T> {
    const reply = await this.#call(method, path, opts);
    const fail = (reason: string, cause?: unknown) =>
      new GiteaError({ method, path, status: null, giteaMessage: '', retryable: false, reason, attempts: 1, cause });
    if (!reply.text) throw fail(`empty ${reply.status} response where JSON was expected`);
    try {
      return JSON.parse(reply.text) as T;
    } catch (cause) {
      throw fail(`invalid JSON in ${reply.status} response`, cause);
    }
  }

  async #call(method: HttpMethod, path: string, opts: CallOptions = {}): Promise<Reply> {
    for (let attempt = 1; ; attempt++) {
      const result = await this.#attempt(method, path, opts, attempt);
      if (result.ok) return result.reply;
      const { error } = result;
      if (!error.retryable || attempt > this.#retries) throw error;
      const backoff = this.#retryBaseMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
      const delayMs = Math.round(Math.max(backoff, Math.min(result.retryAfterMs, MAX_RETRY_AFTER_MS)));
      this.#logger?.warn({ method, path, status: error.status, attempt, delayMs, err: error.message }, 'Gitea request failed, retrying');
      await sleep(delayMs);
    }
  }

  async #attempt(method: HttpMethod, path: string, opts: CallOptions, attempt: number): Promise<Attempt> {
    const headers: Record<string, string> = { Authorization: this.#authorization, Accept: 'application/json' };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    const started = Date.now();
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.#apiUrl + path, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      // The timeout covers the body too, so read it here.
      text = await res.text();
    } catch (cause) {
      const reason =
        cause instanceof Error && cause.name === 'TimeoutError'
          ? `timed out after ${this.#timeoutMs}ms`
          : `network error: ${this.#redact(describe(cause))}`;
      const error = new GiteaError({ method, path, status: null, giteaMessage: '', retryable: true, reason, attempts: attempt, cause });
      return { ok: false, error, retryAfterMs: 0 };
    }
    this.#logger?.debug?.({ method, path, status: res.status, ms: Date.now() - started, attempt }, 'Gitea request');
    if (res.ok) return { ok: true, reply: { status: res.status, text } };

    const giteaMessage = this.#redact(errorMessage(text));
    const error = new GiteaError({
      method,
      path,
      status: res.status,
      giteaMessage,
      retryable: isRetryable(res.status, giteaMessage),
      attempts: attempt,
      hint: opts.hints?.[res.status],
    });
    return { ok: false, error, retryAfterMs: retryAfterMs(res.headers.get('retry-after')) };
  }

  /** Gitea or a proxy may echo request details back; the token must not reach logs or users. */
  #redact(text: string): string {
    return this.#token ? text.replaceAll(this.#token, '[redacted]') : text;
  }
}

function isRetryable(status: number, giteaMessage: string): boolean {
  if (status >= 500 || status === 429) return true;
  // Gitea answers a merge with 405 "Please try again later" while it still computes mergeability.
  return status === 405 && /try again later/i.test(giteaMessage);
}

function errorMessage(text: string): string {
  try {
    const body = JSON.parse(text) as GiteaApiError | null;
    if (typeof body?.message === 'string') return body.message;
  } catch {
    // not JSON: a proxy's error page, use the text itself
  }
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_MESSAGE_CHARS ? `${flat.slice(0, MAX_MESSAGE_CHARS)}…` : flat;
}

function retryAfterMs(header: string | null): number {
  const seconds = header === null ? NaN : Number(header);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause.message : '';
  return cause ? `${err.message}: ${cause}` : err.message;
}

async function nullOn404<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (err) {
    if (isGiteaStatus(err, 404)) return null;
    throw err;
  }
}
