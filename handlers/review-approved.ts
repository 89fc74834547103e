import { ignored, processed, type WebhookHandler, type HandlerDeps } from './types.js';
import { taskForPull } from './lib/tasks.js';
import { refuse } from './lib/refuse.js';
import { TransitionError } from '../src/errors.js';
import { giteaTime } from '../src/gitea/time.js';

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
    const head = await deps.tasks.reviewedHead(task.id, pr.head.sha, { prUpdatedAt: giteaTime(pr.updated_at), actor: sender.login, deliveryId: ctx.id });
    if (head === 'outdated') {
      // An approval is of the code reviewed: commits pushed since are not approved by it.
      const current = (await deps.tasks.find(task.id))?.headSha ?? '';
      await refuse(ctx, deps, pr.number, `@${sender.login}, your approval was of \`${pr.head.sha.slice(0, 7)}\`, but #${pr.number} has moved on to \`${current.slice(0, 7)}\`: task ${task.id} was not approved. Please review the current head.`);
      return ignored(`approval of an outdated head ${pr.head.sha.slice(0, 7)}`);
    }
    try {
      await deps.tasks.transition(task.id, 'approved', {
        source: 'gitea',
        actor: sender.login,
        reason: `approved in a review of #${pr.number}`,
        deliveryId: ctx.id,
      });
    } catch (err) {
      if (!(err instanceof TransitionError)) throw err;
      // SPEC §2: a refused move is answered on Gitea, and changes nothing.
      await refuse(ctx, deps, pr.number, `@${sender.login}, task ${task.id} was not approved: ${err.message}.`);
      return ignored(err.message);
    }
    // After the move (a refused approval changes nothing); kept once per delivery.
    if (review?.content) await deps.tasks.addFeedback(task.id, { kind: 'approved', author: sender.login, body: review.content, deliveryId: ctx.id, headSha: pr.head.sha });
    return processed(`task ${task.id} approved by ${sender.login}`);
  },
};
