import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Secret the test suite configures for the webhook endpoint. */
export const TEST_WEBHOOK_SECRET = 'test-webhook-secret';

export interface Delivery {
  /** Header names as Gitea writes them on the wire; Node lowercases them on receipt. */
  headers: Record<string, string>;
  body: string;
  payload: any;
  id: string;
}

export interface DeliveryOptions {
  /** Defaults to TEST_WEBHOOK_SECRET. '' builds what a hook without a secret sends: empty signatures. */
  secret?: string;
  /** X-Gitea-Delivery; a fresh UUID v4 by default, as Gitea makes one per delivery and per replay. */
  id?: string;
  /** Send as a `content_type=form` hook: `payload=<urlencoded JSON>`. */
  form?: boolean;
  /** Runs last, on a deep copy of the fixture payload. */
  mutate?: (p: any) => void;
  /** Rewrites every task-1-add-login reference and "Task: 1" to this task id. */
  taskId?: number;
  /** Rewrites the PR number the fixture is about, in numbers and URLs. */
  prNumber?: number;
}

export interface GiteaFixture {
  headers: Record<string, string>;
  payload: any;
}

const FIXTURES_DIR = new URL('../../fixtures/gitea/', import.meta.url);

export function loadGiteaFixture(name: string): GiteaFixture {
  return JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES_DIR), 'utf8')) as GiteaFixture;
}

/** Builds a signed delivery of fixtures/gitea/<name>.json, byte for byte as Gitea would send it. */
export function giteaDelivery(name: string, opts: DeliveryOptions = {}): Delivery {
  const fixture = loadGiteaFixture(name);
  const payload = structuredClone(fixture.payload);
  if (opts.taskId !== undefined) rewriteTaskId(payload, opts.taskId);
  if (opts.prNumber !== undefined) rewritePrNumber(name, payload, opts.prNumber);
  opts.mutate?.(payload);

  const json = giteaJson(payload);
  const id = opts.id ?? randomUUID();
  const secret = opts.secret ?? TEST_WEBHOOK_SECRET;
  // Gitea signs the JSON even for form hooks, and sends empty signatures when no secret is set.
  const sha256 = secret === '' ? '' : createHmac('sha256', secret).update(json).digest('hex');
  const sha1 = secret === '' ? '' : createHmac('sha1', secret).update(json).digest('hex');
  const event = fixture.headers['X-Gitea-Event'];
  const eventType = fixture.headers['X-Gitea-Event-Type'];
  const targetType = fixture.headers['X-Gitea-Hook-Installation-Target-Type'];

  // The header set of services/webhook/deliver.go addDefaultHeaders (Go adds Content-Length itself).
  const headers: Record<string, string> = {
    'Content-Type': opts.form ? 'application/x-www-form-urlencoded' : 'application/json',
    'X-Gitea-Delivery': id,
    'X-Gitea-Event': event,
    'X-Gitea-Event-Type': eventType,
    'X-Gitea-Signature': sha256,
    'X-Gogs-Delivery': id,
    'X-Gogs-Event': event,
    'X-Gogs-Event-Type': eventType,
    'X-Gogs-Signature': sha256,
    'X-Hub-Signature': `sha1=${sha1}`,
    'X-Hub-Signature-256': `sha256=${sha256}`,
    'X-GitHub-Delivery': id,
    'X-GitHub-Event': event,
    'X-GitHub-Event-Type': eventType,
    'X-Gitea-Hook-Installation-Target-Type': targetType,
    'X-GitHub-Hook-Installation-Target-Type': targetType,
  };
  const body = opts.form ? `payload=${goQueryEscape(json)}` : json;
  return { headers, body, payload, id };
}

/**
 * Serialises like Go's json.MarshalIndent(p, "", "  "): 2-space indent, no trailing newline,
 * and the HTML-safe escapes Go applies by default (<, >, &, U+2028, U+2029).
 * Control characters already match: Go 1.22+ and JSON.stringify both write \b \f \n \r \t and \u00XX.
 */
export function giteaJson(payload: unknown): string {
  return JSON.stringify(payload, null, 2).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

// Go's url.QueryEscape (used by url.Values.Encode) keeps only [A-Za-z0-9-_.~] and writes space as '+';
// encodeURIComponent additionally keeps !'()* so those are escaped here.
function goQueryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

function rewriteTaskId(payload: any, taskId: number): void {
  rewriteStrings(payload, (s) =>
    s.replace(/task-1-add-login/g, `task-${taskId}-add-login`).replace(/\bTask: 1\b/g, `Task: ${taskId}`),
  );
}

function rewritePrNumber(name: string, payload: any, prNumber: number): void {
  const from: unknown = payload.pull_request?.number ?? (payload.is_pull === true ? payload.issue?.number : undefined);
  if (typeof from !== 'number') throw new Error(`fixture ${name} is not about a pull request`);
  if (payload.number === from) payload.number = prNumber;
  if (payload.pull_request) payload.pull_request.number = prNumber;
  if (payload.is_pull === true) payload.issue.number = prNumber;
  const url = new RegExp(`/(pulls|issues)/${from}(?![0-9])`, 'g');
  rewriteStrings(payload, (s) =>
    s.replace(url, `/$1/${prNumber}`).replaceAll(`refs/pull/${from}/head`, `refs/pull/${prNumber}/head`),
  );
}

function rewriteStrings(node: any, rewrite: (s: string) => string): void {
  if (node === null || typeof node !== 'object') return;
  for (const key of Object.keys(node)) {
    const value = node[key];
    if (typeof value === 'string') node[key] = rewrite(value);
    else rewriteStrings(value, rewrite);
  }
}
