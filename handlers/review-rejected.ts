import { ignored, processed, type WebhookHandler, type HandlerDeps } from './types.js';
import { taskForPull } from './lib/tasks.js';

type ReviewDeps = Pick<HandlerDeps, 'tasks'>;

/** A review requesting changes sends the task back to its agent with the review as feedback. */
export const reviewRejected: WebhookHandler<'pull_request_review_rejected'> = {
  eventTypes: ['pull_request_review_rejected'],
  describe: 'review requesting changes: feedback stored, task -> in_progress',
  async handle(ctx, deps: ReviewDeps) {
    const { pull_request: pr, sender, review } = ctx.payload;
    const task = await taskForPull(deps, ctx.project, pr);
    if (!task) return ignored(`#${pr.number} belongs to no task`);
    await deps.tasks.addFeedback(task.id, {
      kind: 'changes_requested',
      author: sender.login,
      body: review?.content || '(no review text)',
      deliveryId: ctx.id,
    });
    if (task.state === 'ready_to_test' || task.state === 'approved') {
      await deps.tasks.transition(task.id, 'in_progress', {
        source: 'gitea',
        actor: sender.login,
        reason: `changes requested in a review of #${pr.number}`,
        deliveryId: ctx.id,
      });
      return processed(`task ${task.id} back in progress`);
    }
    return processed(`feedback stored for task ${task.id} (${task.state})`);
  },
};
