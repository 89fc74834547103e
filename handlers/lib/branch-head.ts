import type { Task } from '../../src/tasks/model.js';
import type { HeadOutcome } from '../../src/tasks/head.js';
import type { HandlerDeps, WebhookContext } from '../types.js';

export interface BranchHead extends HeadOutcome {
  /** Why the delivery's own commit was not recorded, when it was not. */
  note: string | null;
}

/**
 * New commits on a task branch (a push from `before` to `after`, or the branch created at `after`,
 * `before` null). Recorded when they continue the task's head; otherwise the delivery may be late
 * (the head moved on since) or early (a push before it is still to come), and the task takes the
 * branch's head as Gitea reports it now (`GET …/branches/{branch}`), so a late delivery rolls back
 * nothing. Without Gitea configured, the delivery's commit is recorded as it comes.
 */
export async function convergeBranchHead(
  ctx: WebhookContext,
  deps: Pick<HandlerDeps, 'tasks' | 'gitea'>,
  task: Task,
  branch: string,
  push: { before: string | null; after: string; actor: string },
): Promise<BranchHead> {
  const change = { actor: push.actor, deliveryId: ctx.id, link: { branch } };
  const outcome = await deps.tasks.recordPush(task, push.before, push.after, change);
  if (!outcome.outOfSequence) return { ...outcome, note: null };
  if (!deps.gitea) return { ...(await deps.tasks.recordHead(task.id, push.after, change)), note: null };
  const current = (await deps.gitea.getBranch(ctx.project.owner, ctx.project.repoName, branch))?.commit.id ?? null;
  if (current === null) return { ...outcome, note: `branch ${branch} no longer exists` };
  const recorded = await deps.tasks.recordHead(task.id, current, change);
  const note = current === push.after ? null : `${push.after.slice(0, 7)} is not the head of ${branch}: Gitea says ${current.slice(0, 7)}`;
  return { ...recorded, note };
}
