import { conflict } from '../../src/errors.js';
import { CommandUsageError, type Command } from './types.js';

export const reject: Command = {
  name: 'reject',
  usage: '/reject <reason>',
  help: 'send the task back to its agent, with the reason as feedback',
  needsWrite: true,
  async run({ task, author, args, deps, deliveryId, index, headSha }) {
    if (!args) throw new CommandUsageError('say why: `/reject <reason>`');
    if (task.state !== 'ready_to_test' && task.state !== 'approved' && task.state !== 'in_progress') {
      throw conflict(`task ${task.id} is ${task.state}: /reject sends back a task that is ready_to_test or approved`);
    }
    await deps.tasks.transition(task.id, 'in_progress', { source: 'gitea', actor: author, reason: `/reject on #${index}: ${args}`, deliveryId });
    await deps.tasks.addFeedback(task.id, { kind: 'rejected', author, body: args, deliveryId, headSha: headSha ?? task.headSha });
    return `Task ${task.id} is back in progress. Feedback for the agent: ${args}`;
  },
};
