import { ignored, processed, type WebhookHandler, type HandlerDeps } from './types.js';
import { taskForPull } from './lib/tasks.js';
import { refuse } from './lib/refuse.js';
import { TransitionError } from '../src/errors.js';

type ReviewDeps = Pick<HandlerDeps, 'permissions' | 'tasks' | 'commandReplies' | 'replies'>;

/** An approving review by someone with write access approves the task at the reviewed head. */
export const reviewApproved: WebhookHandler<'pull_request_review_approved'> = {
  eventTypes: ['pull_request_review_approved'],
  describe: 'approving review by a writer: task -> approved, review text kept as feedback',
  async handle(ctx, deps: ReviewDeps) {
    const { pull_request: pr, sender, review } = ctx.payload;
    const task = await taskForPull(deps, ctx.project, pr);
    if (!task) return ignored(`#${pr.number} belongs to no task`);
    if (!(await deps.permissions.canWrite(ctx.project.repo, sender.login))) {
      await refuse(ctx, deps, pr.number, `@${sender.login}, your approval was noted, but only people with write access can approve task ${task.id}.`);
      return ignored(`${sender.login} has no write access`);
    }
    try {
      await deps.tasks.transition(task.id, 'approved', {
        source: 'gitea',
        actor: sender.login,
        reason: `approved in a review of #${pr.number}`,
        deliveryId: ctx.id,
        patch: { head_sha: pr.head.sha },
      });
    } catch (err) {
      if (!(err instanceof TransitionError)) throw err;
      // SPEC §2: a refused move is answered on Gitea, and changes nothing.
      await refuse(ctx, deps, pr.number, `@${sender.login}, task ${task.id} was not approved: ${err.message}.`);
      return ignored(err.message);
    }
    // After the move (a refused approval changes nothing); kept once per delivery.
    if (review?.content) await deps.tasks.addFeedback(task.id, { kind: 'approved', author: sender.login, body: review.content, deliveryId: ctx.id });
    return processed(`task ${task.id} approved by ${sender.login}`);
  },
};
