import { z } from 'zod';
import type { HandledEventType } from './events.js';

/*
 * The fields of Gitea's webhook payloads (WEBHOOKS.md §5) that handlers read, checked before a
 * handler runs. A signed delivery of another shape (a wrong type, a missing object, a value no
 * column can hold) then fails at once with what is wrong, instead of as a TypeError or a database
 * error deep in a handler that retrying cannot fix. Fields not named here pass through unchecked.
 * Limits are Gitea's own and those of the columns the values are written to.
 *
 * These schemas are the one description of a payload: handlers' payload types are inferred from
 * them (z.infer), so a field a handler reads is a field checked here.
 */

/**
 * Go writes valid UTF-8 only, so a lone UTF-16 surrogate in a name is not Gitea's; it would also
 * make encodeURIComponent throw when the name goes into an API path (the permission lookup).
 */
const name = (max: number) => z.string().max(max).regex(/^\P{Cs}*$/u, 'must be well-formed Unicode');
const login = name(255).min(1);
const user = z.looseObject({ login });
/** Gitea keeps branch names in VARCHAR(255); so does tasks.branch. */
const branch = name(255);
const sha = z.string().regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, 'must be a SHA-1 or SHA-256 commit id in lowercase hex');
/** PR and issue numbers; tasks.pr_number and tasks.issue_number are unsigned INT. */
const index = z.number().int().min(1).max(4_294_967_295);

/** What linking a pull request to its task reads (handlers/lib/tasks.ts taskForPull). */
const pullRef = {
  number: index,
  body: z.string().nullish(),
  head: z.looseObject({ ref: branch, label: branch.optional(), sha }),
};

const pullRequest = z.looseObject({
  ...pullRef,
  state: z.string(),
  merged: z.boolean(),
  html_url: z.string().max(1000),
  base: z.looseObject({ ref: branch }),
  // Tells a late delivery from a newer one (src/tasks/heads.ts).
  updated_at: z.iso.datetime({ offset: true }).nullish(),
});

export const createPayload = z.looseObject({ ref: branch, ref_type: z.string(), sha, sender: user });

export const pushPayload = z.looseObject({
  ref: name('refs/heads/'.length + 255),
  before: sha.optional(),
  after: sha,
  /** Who pushed: for a merge made through the API, the token's user. */
  pusher: user.nullish(),
  sender: user,
});

export const pullRequestPayload = z.looseObject({
  action: z.string(),
  pull_request: pullRequest,
  sender: user,
  review: z.looseObject({ content: z.string().nullish() }).nullish(),
});

export const issueCommentPayload = z.looseObject({
  action: z.string(),
  issue: z.looseObject({ number: index, body: z.string().nullish() }),
  // Sent with PR comments since Gitea 1.23.
  pull_request: z.looseObject(pullRef).nullish(),
  comment: z.looseObject({ body: z.string(), user: user.nullish() }),
  sender: user,
  is_pull: z.boolean(),
});

export const issuesPayload = z.looseObject({
  action: z.string(),
  issue: z.looseObject({
    number: index,
    title: z.string().max(500),
    body: z.string().nullish(),
    labels: z.array(z.looseObject({ name: z.string() })).nullish(),
    // Null instead of [] before Gitea 1.24.
    assignees: z.array(user).nullish(),
    state: z.string().optional(),
    pull_request: z.looseObject({}).nullish(),
  }),
  sender: user,
});

export type CreatePayload = z.infer<typeof createPayload>;
export type PushPayload = z.infer<typeof pushPayload>;
export type PullRequestPayload = z.infer<typeof pullRequestPayload>;
export type IssueCommentPayload = z.infer<typeof issueCommentPayload>;
export type IssuesPayload = z.infer<typeof issuesPayload>;

/**
 * The payload struct Gitea sends for each X-Gitea-Event-Type aiworker handles (WEBHOOKS.md §3): a
 * plain PR comment is an issue comment; every other pull_request_* type carries the pull request.
 * A new handled event type does not compile until it is given its schema here.
 */
export const PAYLOAD_SCHEMAS = {
  create: createPayload,
  push: pushPayload,
  pull_request: pullRequestPayload,
  pull_request_sync: pullRequestPayload,
  pull_request_review_approved: pullRequestPayload,
  pull_request_review_rejected: pullRequestPayload,
  pull_request_review_comment: pullRequestPayload,
  pull_request_comment: issueCommentPayload,
  issue_comment: issueCommentPayload,
  issues: issuesPayload,
  issue_label: issuesPayload,
  issue_assign: issuesPayload,
} as const satisfies Record<HandledEventType, z.ZodType>;

/** The payload a handler of event type E receives. */
export type PayloadOf<E extends HandledEventType> = z.infer<(typeof PAYLOAD_SCHEMAS)[E]>;

export type ParsedPayload<P> = { ok: true; payload: P } | { ok: false; problem: string };

/** Checks a delivery's payload against its event type's shape; the problem names the fields that are wrong. */
export function parsePayload<E extends HandledEventType>(eventType: E, payload: unknown): ParsedPayload<PayloadOf<E>> {
  const result = PAYLOAD_SCHEMAS[eventType].safeParse(payload);
  // The compiler sees a union of every schema's output here; PAYLOAD_SCHEMAS[eventType] is E's.
  if (result.success) return { ok: true, payload: result.data as PayloadOf<E> };
  const issues = result.error.issues;
  const problems = issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join('.') : 'payload'}: ${i.message}`);
  return { ok: false, problem: problems.join('; ') + (issues.length > 5 ? `; and ${issues.length - 5} more` : '') };
}
