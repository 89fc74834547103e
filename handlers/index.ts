import type { HandledEventType } from '../src/gitea/events.js';
import type { WebhookHandler } from './types.js';
import { branchCreated } from './create.js';
import { push } from './push.js';
import { pullRequest } from './pull-request.js';
import { pullRequestSync } from './pull-request-sync.js';
import { reviewApproved } from './review-approved.js';
import { reviewRejected } from './review-rejected.js';
import { comment, reviewComment } from './comment.js';
import { issueTask } from './issues.js';

/** The single list of webhook handlers; a new handler is a new file and one line here. */
export const HANDLERS: readonly WebhookHandler<never>[] = [
  branchCreated,
  push,
  pullRequest,
  pullRequestSync,
  reviewApproved,
  reviewRejected,
  comment,
  reviewComment,
  issueTask,
] as WebhookHandler<never>[];

export function handlerFor(eventType: HandledEventType): WebhookHandler<unknown> | undefined {
  return HANDLERS.find((h) => h.eventTypes.includes(eventType)) as WebhookHandler<unknown> | undefined;
}
