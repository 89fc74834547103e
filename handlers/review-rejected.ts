import { giteaTime } from '../src/gitea/time.js';
import { ignored, processed, type WebhookHandler, type HandlerDeps } from './types.js';
import { taskForPull } from './lib/tasks.js';

type ReviewDeps = Pick<HandlerDeps, 'tasks' | 'jobs'>;

/**
 * A review requesting changes sends the task back to its agent with the review as feedback; its
 * line comments follow from Gitea (a job). A review of an outdated head still reaches the agent,
 * but rolls back nothing established at a newer head.
 */
export const reviewRejected: WebhookHandler<'pull_request_review_rejected'> = {
  eventTypes: ['pull_request_review_rejected'],
  describe: 'review requesting changes: feedback stored (line comments fetched), task -> in_progress',
  async handle(ctx, deps: ReviewDeps) {
    const { pull_request: pr, sender, review } = ctx.payload;
    const task = await taskForPull(deps, ctx.project, pr);
    if (!task) return ignored(`#${pr.number} belongs to no task`);
    const head = await deps.tasks.reviewedHead(task.id, pr.head.sha, { prUpdatedAt: giteaTime(pr.updated_at), actor: sender.login, deliveryId: ctx.id });
    const feedbackId = await deps.tasks.addFeedback(task.id, {
      kind: 'changes_requested',
      author: sender.login,
      body: review?.content || '(no review text)',
      deliveryId: ctx.id,
      headSha: pr.head.sha,
    });
    await deps.jobs.fetchReviewComments(feedbackId, { projectId: ctx.project.id, prNumber: pr.number, reviewer: sender.login, state: 'REQUEST_CHANGES' });
    const now = (await deps.tasks.find(task.id)) ?? task;
    if (head === 'outdated') return processed(`feedback stored for task ${task.id}; the review was of ${pr.head.sha.slice(0, 7)}, an outdated head: the task stays ${now.state}`);
    if (now.state === 'ready_to_test' || now.state === 'approved') {
      await deps.tasks.transition(task.id, 'in_progress', {
        source: 'gitea',
        actor: sender.login,
        reason: `changes requested in a review of #${pr.number}`,
        deliveryId: ctx.id,
      });
      return processed(`task ${task.id} back in progress`);
    }
    return processed(`feedback stored for task ${task.id} (${now.state})`);
  },
};
