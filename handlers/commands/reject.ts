import { CommandUsageError, type Command } from './types.js';

export const reject: Command = {
  name: 'reject',
  usage: '/reject <reason>',
  help: 'send the task back to its agent, with the reason as feedback',
  needsWrite: true,
  async run({ task, author, args, deps, deliveryId, index }) {
    if (!args) throw new CommandUsageError('say why: `/reject <reason>`');
    await deps.tasks.transition(task.id, 'in_progress', { source: 'gitea', actor: author, reason: `/reject on #${index}: ${args}`, deliveryId });
    await deps.tasks.addFeedback(task.id, { kind: 'rejected', author, body: args, deliveryId });
    return `Task ${task.id} is back in progress. Feedback for the agent: ${args}`;
  },
};
