import type { Command } from './types.js';

export const cancel: Command = {
  name: 'cancel',
  usage: '/cancel',
  help: 'give the task up (its preview is torn down)',
  needsWrite: true,
  async run({ task, author, deps, deliveryId, index }) {
    await deps.tasks.transition(task.id, 'cancelled', { source: 'gitea', actor: author, reason: `/cancel on #${index}`, deliveryId });
    await deps.jobs.teardownPreview(task.id, `/cancel by ${author}`);
    return `Task ${task.id} cancelled by @${author}.`;
  },
};
