import { CommandUsageError, type Command } from './types.js';

export const answer: Command = {
  name: 'answer',
  usage: '/answer <text>',
  help: "answer the agent's open question",
  needsWrite: true,
  async run({ task, author, args, deps, deliveryId }) {
    if (!args) throw new CommandUsageError('give the answer: `/answer <text>`');
    await deps.tasks.answer(task.id, args, { actor: author, source: 'gitea', deliveryId });
    return `Thanks @${author}, your answer was passed to the agent working on task ${task.id}.`;
  },
};
