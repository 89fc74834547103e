import type { Command } from './types.js';

export const approve: Command = {
  name: 'approve',
  usage: '/approve',
  help: 'approve the task at its current head (like an approving review)',
  needsWrite: true,
  async run({ task, author, deps, deliveryId, headSha, index }) {
    await deps.tasks.transition(task.id, 'approved', {
      source: 'gitea',
      actor: author,
      reason: `/approve on #${index}`,
      deliveryId,
      patch: headSha ? { head_sha: headSha } : undefined,
    });
    return `Task ${task.id} approved by @${author}.`;
  },
};
