import { ignored, type WebhookHandler, type HandlerDeps } from './types.js';
import { taskForPull } from './lib/tasks.js';
import { linkAndPreview } from './pull-request.js';

type PullRequestDeps = Pick<HandlerDeps, 'jobs' | 'tasks'>;

/** New commits on a task PR: the approval goes stale and the new head gets its preview. */
export const pullRequestSync: WebhookHandler<'pull_request_sync'> = {
  eventTypes: ['pull_request_sync'],
  describe: 'new commits on a task PR: re-link the head, stale approval, redeploy the preview (bursts deploy once)',
  async handle(ctx, deps: PullRequestDeps) {
    const pr = ctx.payload.pull_request;
    if (pr.state !== 'open') return ignored(`#${pr.number} is ${pr.state}`);
    const task = await taskForPull(deps, ctx.project, pr);
    if (!task) return ignored(`#${pr.number} belongs to no task`);
    return linkAndPreview(ctx, deps, task);
  },
};
