import type { IssueCommentPayload } from '../src/gitea/events.js';
import { isOwnComment } from '../src/gitea/replies.js';
import { AppError } from '../src/errors.js';
import type { Task } from '../src/tasks/model.js';
import { COMMAND_NAMES, findCommand } from './commands/index.js';
import { parseCommands, plainText } from './commands/parse.js';
import { CommandUsageError } from './commands/types.js';
import { ignored, processed, type HandlerDeps, type WebhookContext, type WebhookHandler } from './types.js';
import { taskForPull } from './lib/tasks.js';

async function taskOf(ctx: WebhookContext<IssueCommentPayload>, deps: HandlerDeps): Promise<Task | null> {
  const { issue, pull_request: pr, is_pull: isPull } = ctx.payload;
  if (isPull) {
    return taskForPull(deps, ctx.project, pr ?? { number: issue.number, body: issue.body, head: { ref: '', label: '', sha: '' } });
  }
  return deps.tasks.findByIssue(ctx.project.id, issue.number);
}

/** PR and issue comments: commands first; otherwise, while a question is open, the reply is its answer. */
export const comment: WebhookHandler<IssueCommentPayload> = {
  eventTypes: ['issue_comment', 'pull_request_comment'],
  describe: 'comment commands (/approve, /reject, /preview, /stage, /answer, /cancel, /retry, /help) and answers to questions',
  async handle(ctx, deps) {
    const { action, comment: c, issue, sender } = ctx.payload;
    if (action !== 'created') return ignored(`comment ${action}`);
    if (isOwnComment(c.body, c.user?.login ?? sender.login, await deps.botLogin())) return ignored("aiworker's own comment");
    const author = c.user?.login ?? sender.login;
    const commands = parseCommands(c.body, COMMAND_NAMES);
    const task = await taskOf(ctx, deps);
    if (!task) {
      if (commands.length) {
        await deps.replies.post(ctx.project, issue.number, `@${author}, this ${ctx.payload.is_pull ? 'pull request' : 'issue'} is not linked to an aiworker task.`);
        return processed('commands on an unlinked thread answered');
      }
      return ignored('not a task thread');
    }

    if (!commands.length) {
      if (task.state !== 'needs_input') return ignored('no command');
      const text = plainText(c.body);
      if (!text) return ignored('empty reply');
      if (!(await deps.permissions.canWrite(ctx.project.repo, author))) return ignored(`${author} may not answer (no write access)`);
      await deps.tasks.answer(task.id, text, { actor: author, source: 'gitea', deliveryId: ctx.id });
      await deps.replies.post(ctx.project, issue.number, `Thanks @${author}, your answer was passed to the agent working on task ${task.id}.`);
      return processed(`answer to task ${task.id} from ${author}`);
    }

    const headSha = ctx.payload.pull_request?.head?.sha ?? task.headSha;
    let canWrite: boolean | null = null;
    for (const parsed of commands) {
      const command = findCommand(parsed.name)!;
      let reply: string;
      if (command.needsWrite && !(canWrite ??= await deps.permissions.canWrite(ctx.project.repo, author))) {
        reply = `Sorry @${author}, \`/${command.name}\` needs write access to ${ctx.project.repo}.`;
      } else {
        const fresh = (await deps.tasks.find(task.id)) ?? task;
        try {
          reply = await command.run({ task: fresh, project: ctx.project, author, args: parsed.args, index: issue.number, headSha, deliveryId: ctx.id, deps, log: ctx.log });
        } catch (err) {
          if (err instanceof CommandUsageError) reply = `Usage: \`${command.usage}\` — ${err.message}`;
          else if (err instanceof AppError) reply = `\`/${command.name}\` refused: ${err.message}`;
          else throw err;
        }
      }
      await deps.replies.post(ctx.project, issue.number, reply);
    }
    return processed(`${commands.length} command(s) by ${author}`);
  },
};
