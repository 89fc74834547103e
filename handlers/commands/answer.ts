import type { Task } from '../../src/tasks/model.js';
import { CommandUsageError, type Command, type CommandContext } from './types.js';

/**
 * Passes a person's answer to the task's open question on to its agent, and says so: the one
 * wording of that reply, whether the answer came as `/answer <text>` or as a plain reply.
 */
export async function passAnswer(
  deps: CommandContext['deps'],
  task: Pick<Task, 'id'>,
  answer: string,
  by: { author: string; deliveryId: string },
): Promise<string> {
  await deps.tasks.answer(task.id, answer, { actor: by.author, source: 'gitea', deliveryId: by.deliveryId });
  return `Thanks @${by.author}, your answer was passed to the agent working on task ${task.id}.`;
}

export const answer: Command = {
  name: 'answer',
  usage: '/answer <text>',
  help: "answer the agent's open question",
  needsWrite: true,
  async run({ task, author, args, deps, deliveryId }) {
    if (!args) throw new CommandUsageError('give the answer: `/answer <text>`');
    return passAnswer(deps, task, args, { author, deliveryId });
  },
};
