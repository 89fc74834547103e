/** The X-Gitea-Event-Type values aiworker acts on (WEBHOOKS.md §3); anything else is recorded as ignored. */
export const HANDLED_EVENT_TYPES = [
  'create',
  'push',
  'pull_request',
  'pull_request_sync',
  'pull_request_review_approved',
  'pull_request_review_rejected',
  'pull_request_review_comment',
  'pull_request_comment',
  'issue_comment',
  'issues',
  'issue_label',
  'issue_assign',
] as const;
export type HandledEventType = (typeof HANDLED_EVENT_TYPES)[number];

export function isHandledEventType(t: string): t is HandledEventType {
  return (HANDLED_EVENT_TYPES as readonly string[]).includes(t);
}

export type Loose = Record<string, unknown> & {
  repository?: { full_name?: string };
  pull_request?: { number?: number; head?: { ref?: string; label?: string }; body?: string | null };
  issue?: { number?: number; body?: string | null };
  number?: number;
  ref?: string;
  action?: string;
};

export function repositoryOf(payload: unknown): string | null {
  const name = (payload as Loose)?.repository?.full_name;
  return typeof name === 'string' ? name : null;
}

export function actionOf(payload: unknown): string | null {
  const action = (payload as Loose)?.action;
  return typeof action === 'string' ? action : null;
}

/** A pull request's branch name survives head-branch deletion in `head.label` (WEBHOOKS.md §5). */
export function prBranch(pr: { head?: { ref?: string; label?: string } } | null | undefined): string | null {
  // Also runs on unchecked payloads at ingest, where any JSON can stand in these places.
  const ref: unknown = pr?.head?.ref;
  if (typeof ref === 'string' && ref && !ref.startsWith('refs/pull/')) return ref;
  const label: unknown = pr?.head?.label;
  return typeof label === 'string' ? label : null;
}
