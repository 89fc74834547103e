import { STATUS_CODES } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GiteaApiError } from './types.js';

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


export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

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

export interface CallOptions {
  body?: unknown;
  /**
   * Why this POST may be sent again after Gitea may have acted on it. A POST is not idempotent: after
   * a 5xx, a timeout or a lost connection the first one may have done its work, and a second could
   * do it twice (a comment posted twice, a second webhook), so by default a POST is retried only
   * after an answer Gitea gives before acting (429, or 405 "try again later"). A POST whose repeat
   * Gitea refuses (an existing branch or pull request: 409; a merged one: 405) or that changes
   * nothing the second time (labels already set) says so here and is retried like any call.
   */
  repeatSafe?: string;
  /** extra explanation appended to the error for a given status */
  hints?: Partial<Record<number, string>>;
}

interface Reply {
  status: number;
  text: string;
  /** X-Total-Count of a list answer, when Gitea sent it. */
  total: number | null;
}

type Attempt = { ok: true; reply: Reply } | { ok: false; error: GiteaError; retryAfterMs: number };

/** Caps how long a Retry-After can hold one call (and the job waiting on it). */
const MAX_RETRY_AFTER_MS = 30_000;
const MAX_MESSAGE_CHARS = 300;
const LIST_PAGE = 50;

/** Gitea's REST API over fetch: authentication, timeouts, retries with backoff, errors that say what failed. */
export class GiteaTransport {
  readonly #apiUrl: string;
  readonly #authorization: string;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #retryBaseMs: number;
  readonly logger: GiteaLogger | undefined;

  constructor(opts: GiteaClientOptions) {
    // Fail at wiring time rather than on every call, where it would look like a network error.
    const base = new URL(opts.baseUrl);
    this.#apiUrl = `${base.origin}${base.pathname.replace(/\/+$/, '')}/api/v1`;
    this.#token = opts.token;
    this.#authorization = `token ${opts.token}`;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#retries = opts.retries ?? 4;
    this.#retryBaseMs = opts.retryBaseMs ?? 250;
    this.logger = opts.logger;
  }

  async json<T>(method: HttpMethod, path: string, opts: CallOptions = {}): Promise<T> {
    return this.#parse<T>(method, path, await this.call(method, path, opts));
  }

  /**
   * A list, page after page (Gitea's pages hold at most `[api] MAX_RESPONSE_ITEMS`, default 50),
   * until X-Total-Count, a short page, or a page that brings nothing new (a list Gitea answers
   * whole, whatever page is asked for).
   */
  async allPages<T extends { id: number }>(path: string): Promise<T[]> {
    const all = new Map<number, T>();
    for (let page = 1; ; page++) {
      const reply = await this.call('GET', `${path}?page=${page}&limit=${LIST_PAGE}`);
      const items = this.#parse<T[]>('GET', path, reply);
      const before = all.size;
      for (const item of items) all.set(item.id, item);
      const done = reply.total !== null ? all.size >= reply.total : items.length < LIST_PAGE;
      if (done || all.size === before) return [...all.values()];
    }
  }

  #parse<T>(method: HttpMethod, path: string, reply: Reply): T {
    const fail = (reason: string, cause?: unknown) =>
      new GiteaError({ method, path, status: null, giteaMessage: '', retryable: false, reason, attempts: 1, cause });
    if (!reply.text) throw fail(`empty ${reply.status} response where JSON was expected`);
    try {
      return JSON.parse(reply.text) as T;
    } catch (cause) {
      throw fail(`invalid JSON in ${reply.status} response`, cause);
    }
  }

  async call(method: HttpMethod, path: string, opts: CallOptions = {}): Promise<Reply> {
    for (let attempt = 1; ; attempt++) {
      const result = await this.#attempt(method, path, opts, attempt);
      if (result.ok) return result.reply;
      const { error } = result;
      if (!error.retryable || attempt > this.#retries) throw error;
      if (method === 'POST' && !opts.repeatSafe && !answeredBeforeActing(error)) throw error;
      const backoff = this.#retryBaseMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
      const delayMs = Math.round(Math.max(backoff, Math.min(result.retryAfterMs, MAX_RETRY_AFTER_MS)));
      this.logger?.warn({ method, path, status: error.status, attempt, delayMs, err: error.message }, 'Gitea request failed, retrying');
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
    this.logger?.debug?.({ method, path, status: res.status, ms: Date.now() - started, attempt }, 'Gitea request');
    if (res.ok) {
      const total = Number(res.headers.get('x-total-count') ?? NaN);
      return { ok: true, reply: { status: res.status, text, total: Number.isInteger(total) ? total : null } };
    }

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
  return status >= 500 || isTryLater(status, giteaMessage);
}

/** 429, and the 405 "Please try again later" Gitea answers a merge with while it still computes mergeability. */
function isTryLater(status: number, giteaMessage: string): boolean {
  return status === 429 || (status === 405 && /try again later/i.test(giteaMessage));
}

/** A refusal Gitea answers before doing anything, so that the call may be sent again whatever it is. */
function answeredBeforeActing(error: GiteaError): boolean {
  return error.status !== null && isTryLater(error.status, error.giteaMessage);
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
