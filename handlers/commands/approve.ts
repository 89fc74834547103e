import { conflict } from '../../src/errors.js';
import { openPullHead } from '../../src/gitea/pull-head.js';
import type { Command, CommandContext } from './types.js';

/**
 * The head an approval names: the pull request's head as Gitea reports it now, not the one the
 * comment's delivery carried (the PR may have moved on since, and a late delivery must roll nothing
 * back). Null when there is no pull request to ask about, or no Gitea to ask.
 */
async function currentHead({ task, project, index, isPull, deps }: CommandContext): Promise<{ sha: string; prNumber: number; updatedAt: Date | null } | null> {
  const prNumber = task.prNumber ?? (isPull ? index : null);
  if (prNumber === null || !deps.gitea) return null;
  const head = await openPullHead(deps.gitea, project, prNumber);
  if ('gone' in head) {
    const why = head.gone === 'no longer exists' ? head.gone : `${head.gone}: there is nothing to approve`;
    throw conflict(`pull request #${prNumber} of task ${task.id} ${why}`);
  }
  return { ...head, prNumber };
}

export const approve: Command = {
  name: 'approve',
  usage: '/approve',
  help: "approve the task at its pull request's current head (like an approving review)",
  needsWrite: true,
  async run(ctx) {
    const { task, author, deps, deliveryId, index } = ctx;
    const reason = `/approve on #${index}`;
    const head = await currentHead(ctx);
    if (!head) {
      await deps.tasks.transition(task.id, 'approved', { source: 'gitea', actor: author, reason, deliveryId });
      return `Task ${task.id} approved by @${author}${task.headSha ? ` at \`${task.headSha.slice(0, 7)}\`` : ''}.`;
    }
    const { changedHead } = await deps.tasks.approveHead(task.id, head.sha, { actor: author, deliveryId, reason, prUpdatedAt: head.updatedAt });
    // Approved code gets its preview like any new head (an approved task stays approved when it is up).
    if (changedHead) await deps.jobs.deployPreview(task.id, `/approve at a new head of #${head.prNumber}`);
    return `Task ${task.id} approved by @${author} at \`${head.sha.slice(0, 7)}\`, the head of #${head.prNumber}.`;
  },
};
