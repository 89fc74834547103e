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
export const HANDLERS: readonly WebhookHandler[] = [
  branchCreated,
  push,
  pullRequest,
  pullRequestSync,
  reviewApproved,
  reviewRejected,
  comment,
  reviewComment,
  issueTask,
];

/** The handler of an event type: one that lists it, and so takes that event's payload. */
export function handlerFor<E extends HandledEventType>(eventType: E): WebhookHandler<E> | undefined {
  return HANDLERS.find((h): h is WebhookHandler<E> => h.eventTypes.includes(eventType));
}
