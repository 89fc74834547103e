import type { IssuesPayload } from '../src/gitea/payloads.js';
import { ignored, processed, type HandlerDeps, type HandlerResult, type WebhookContext, type WebhookHandler } from './types.js';
import { replyOnce } from './lib/reply-once.js';

type IssueDeps = Pick<HandlerDeps, 'botLogin' | 'commandReplies' | 'replies' | 'tasks'>;

export const TASK_LABEL = 'aiworker';

type IssueEvent = 'issues' | 'issue_label' | 'issue_assign';

/** Actions after which the issue's labels, assignees and state say whether it asks for aiworker. */
const ASKING_ACTIONS = new Set(['opened', 'reopened', 'edited', 'label_updated', 'assigned']);
const WITHDRAWING_ACTIONS = new Set(['closed', 'unassigned', 'label_updated', 'label_cleared']);

/** An open issue asks for aiworker when it carries the `aiworker` label or is assigned to the bot account. */
function asksForAiworker(issue: IssuesPayload['issue'], botLogin: string | null): string | null {
  if (issue.state === 'closed') return null;
  if ((issue.labels ?? []).some((l) => l.name.toLowerCase() === TASK_LABEL)) return `the ${TASK_LABEL} label`;
  const bot = botLogin?.toLowerCase();
  if (bot && (issue.assignees ?? []).some((a) => a.login.toLowerCase() === bot)) return `its assignment to @${botLogin}`;
  return null;
}

async function createTask(ctx: WebhookContext<IssueEvent>, deps: IssueDeps, why: string): Promise<HandlerResult> {
  const { issue, sender } = ctx.payload;
  let task = await deps.tasks.findByIssue(ctx.project.id, issue.number);
  // A retried or replayed delivery finishes what it started (its comment) instead of stopping.
  if (task && !(await deps.tasks.createdByDelivery(task.id, ctx.id))) return ignored(`issue #${issue.number} is already task ${task.id}`);
  task ??= await deps.tasks.create({
    projectId: ctx.project.id,
    title: issue.title,
    description: issue.body,
    issueNumber: issue.number,
    actor: sender.login,
    deliveryId: ctx.id,
  });
  const id = task.id;
  await replyOnce({
    ctx,
    deps,
    index: issue.number,
    produce: async () => `aiworker created task ${id} for this issue (asked by ${why}); an agent will pick it up. Its branch will be \`task-${id}-<slug>\`.`,
  });
  return processed(`task ${id} created from issue #${issue.number} (${why})`);
}

async function withdraw(ctx: WebhookContext<IssueEvent>, deps: IssueDeps): Promise<HandlerResult> {
  const { issue, sender, action } = ctx.payload;
  const task = await deps.tasks.findByIssue(ctx.project.id, issue.number);
  if (!task) return ignored(`issue #${issue.number} has no task`);
  const why = action === 'closed' ? `issue #${issue.number} was closed` : `issue #${issue.number} no longer asks for aiworker`;
  const cancelled = await deps.tasks.cancelUnstarted(task.id, { actor: sender.login, reason: why, deliveryId: ctx.id });
  if (!cancelled) return ignored(`${why}, but task ${task.id} is ${task.state}: work has started, so it stays`);
  await replyOnce({ ctx, deps, index: issue.number, produce: async () => `aiworker cancelled task ${task.id}: ${why} before an agent started on it.` });
  return processed(`task ${task.id} cancelled: ${why}`);
}

/**
 * An issue becomes a backlog task when it carries the `aiworker` label or is assigned to the bot,
 * once whichever comes first; closed or no longer asking before work started, the task is cancelled.
 */
export const issueTask: WebhookHandler<IssueEvent> = {
  eventTypes: ['issues', 'issue_label', 'issue_assign'],
  describe: 'an issue labelled aiworker or assigned to the bot becomes a backlog task; closed or unassigned before work started, it is cancelled',
  async handle(ctx, deps: IssueDeps) {
    const { action, issue } = ctx.payload;
    if (issue.pull_request) return ignored('a pull request, not an issue');
    const why = asksForAiworker(issue, await deps.botLogin());
    if (why && ASKING_ACTIONS.has(action)) return createTask(ctx, deps, why);
    if (!why && WITHDRAWING_ACTIONS.has(action)) return withdraw(ctx, deps);
    return ignored(why ? `issues action ${action}` : `issue #${issue.number} does not ask for aiworker (no ${TASK_LABEL} label, not assigned to the bot)`);
  },
};
