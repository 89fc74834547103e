import type { IssuesPayload } from '../src/gitea/events.js';
import { ignored, processed, type WebhookHandler } from './types.js';

export const TASK_LABEL = 'aiworker';

/** An issue labelled `aiworker` becomes a task in backlog, linked to the issue. */
export const issueLabelled: WebhookHandler<IssuesPayload> = {
  eventTypes: ['issues', 'issue_label'],
  describe: 'an issue labelled aiworker becomes a backlog task',
  async handle(ctx, deps) {
    const { action, issue, sender } = ctx.payload;
    if (!['opened', 'reopened', 'label_updated', 'edited'].includes(action)) return ignored(`issues action ${action}`);
    if (issue.pull_request) return ignored('a pull request, not an issue');
    if (!(issue.labels ?? []).some((l) => l.name.toLowerCase() === TASK_LABEL)) return ignored(`issue #${issue.number} has no ${TASK_LABEL} label`);
    const existing = await deps.tasks.findByIssue(ctx.project.id, issue.number);
    if (existing) {
      // A retried or replayed delivery converges on what it did the first time, without a second comment.
      if (await deps.tasks.createdByDelivery(existing.id, ctx.id)) return processed(`task ${existing.id} was created by this delivery`);
      return ignored(`issue #${issue.number} is already task ${existing.id}`);
    }
    const task = await deps.tasks.create({
      projectId: ctx.project.id,
      title: issue.title,
      description: issue.body,
      issueNumber: issue.number,
      actor: sender.login,
      deliveryId: ctx.id,
    });
    await deps.replies.post(
      ctx.project,
      issue.number,
      `aiworker created task ${task.id} for this issue; an agent will pick it up. Its branch will be \`task-${task.id}-<slug>\`.`,
    );
    return processed(`task ${task.id} created from issue #${issue.number}`);
  },
};
