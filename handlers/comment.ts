import { isOwnComment } from '../src/gitea/replies.js';
import { AppError } from '../src/errors.js';
import type { Task } from '../src/tasks/model.js';
import { COMMAND_NAMES, findCommand } from './commands/index.js';
import { parseCommands, plainText } from './commands/parse.js';
import { CommandUsageError } from './commands/types.js';
import { ignored, processed, type HandlerDeps, type HandlerResult, type WebhookContext, type WebhookHandler } from './types.js';
import { taskForPull } from './lib/tasks.js';
import { replyOnce } from './lib/reply-once.js';
import { passAnswer } from './commands/answer.js';

/** What comments use: commands (tasks, jobs), answers and the replies to both. */
type CommentDeps = Pick<HandlerDeps, 'botLogin' | 'commandReplies' | 'gitea' | 'replies' | 'permissions' | 'tasks' | 'jobs'>;

/** A PR comment, an issue comment or a review's text, in one shape, so command code is written once. */
export interface CommentEvent {
  body: string;
  author: string;
  /** The PR or issue number the text was written on. */
  index: number;
  isPull: boolean;
  headSha: string | null;
  task: Task | null;
}

/** Commands first; otherwise, while a question is open, a writer's reply is its answer. */
export async function handleComment(ctx: WebhookContext, deps: CommentDeps, c: CommentEvent): Promise<HandlerResult> {
  const { body, author, index, task } = c;
  if (isOwnComment(body, author, await deps.botLogin())) return ignored("aiworker's own comment");
  const commands = parseCommands(body, COMMAND_NAMES);
  if (!task) {
    if (commands.length) {
      await replyOnce({ ctx, deps, index, produce: async () => `@${author}, this ${c.isPull ? 'pull request' : 'issue'} is not linked to an aiworker task.` });
      return processed('commands on an unlinked thread answered');
    }
    return ignored('not a task thread');
  }

  if (!commands.length) {
    // An answer passed on earlier (its thanks perhaps not posted yet) is not taken for a new one.
    const recorded = await deps.commandReplies.of(ctx.id);
    let mayAnswer = true;
    if (!recorded.has(0)) {
      if (task.state !== 'needs_input') return ignored('no command');
      const text = plainText(body);
      if (!text) return ignored('empty reply');
      mayAnswer = await deps.permissions.canWrite(ctx.project.repo, author);
    }
    await replyOnce({
      ctx,
      deps,
      index,
      recorded,
      // Answering moves the task on, so it takes what a state-changing command takes.
      produce: async () =>
        mayAnswer
          ? passAnswer(deps, task, plainText(body), { author, deliveryId: ctx.id })
          : `Sorry @${author}, only people with write access to ${ctx.project.repo} can answer the question of task ${task.id}; your comment was not passed to the agent.`,
    });
    if (recorded.has(0)) return processed(`reply of ${author} to task ${task.id} handled before`);
    return processed(mayAnswer ? `answer to task ${task.id} from ${author}` : `reply of ${author} to task ${task.id} refused (no write access)`);
  }

  const recorded = await deps.commandReplies.of(ctx.id);
  let canWrite: boolean | null = null;
  for (const [position, parsed] of commands.entries()) {
    const command = findCommand(parsed.name)!;
    const produce = async () => {
      if (command.needsWrite && !(canWrite ??= await deps.permissions.canWrite(ctx.project.repo, author))) {
        return `Sorry @${author}, \`/${command.name}\` needs write access to ${ctx.project.repo}.`;
      }
      const fresh = (await deps.tasks.find(task.id)) ?? task;
      try {
        return await command.run({ task: fresh, project: ctx.project, author, args: parsed.args, index, isPull: c.isPull, headSha: c.headSha, deliveryId: ctx.id, deps, log: ctx.log });
      } catch (err) {
        if (err instanceof CommandUsageError) return `Usage: \`${command.usage}\` — ${err.message}`;
        if (err instanceof AppError) return `\`/${command.name}\` refused: ${err.message}`;
        throw err;
      }
    };
    await replyOnce({ ctx, deps, index, recorded, position, produce });
  }
  return processed(`${commands.length} command(s) by ${author}`);
}

/** PR and issue comments (`issue_comment`, `pull_request_comment`). */
export const comment: WebhookHandler<'issue_comment' | 'pull_request_comment'> = {
  eventTypes: ['issue_comment', 'pull_request_comment'],
  describe: 'comment commands (/approve, /reject, /preview, /stage, /answer, /cancel, /retry, /help) and answers to questions',
  async handle(ctx, deps: CommentDeps) {
    const { action, comment: c, issue, sender, pull_request: pr, is_pull: isPull } = ctx.payload;
    if (action !== 'created') return ignored(`comment ${action}`);
    const task = isPull
      ? await taskForPull(deps, ctx.project, pr ?? { number: issue.number, body: issue.body, head: { ref: '', label: '', sha: '' } })
      : await deps.tasks.findByIssue(ctx.project.id, issue.number);
    return handleComment(ctx, deps, {
      body: c.body,
      author: c.user?.login ?? sender.login,
      index: issue.number,
      isPull,
      headSha: pr?.head?.sha ?? task?.headSha ?? null,
      task,
    });
  },
};

/**
 * A review of type "comment" (a summary, or a stand-alone line comment left later): its summary may
 * hold commands, and on a task's PR it is feedback for the agent, its line comments fetched from
 * Gitea by a job (`pull_request_review_comment`).
 */
export const reviewComment: WebhookHandler<'pull_request_review_comment'> = {
  eventTypes: ['pull_request_review_comment'],
  describe: "commands in a review's summary; the review and its line comments kept as feedback for the agent",
  async handle(ctx, deps: CommentDeps) {
    const { pull_request: pr, sender, review } = ctx.payload;
    const task = await taskForPull(deps, ctx.project, pr);
    const summary = review?.content ?? '';
    if (isOwnComment(summary, sender.login, await deps.botLogin())) return ignored("aiworker's own review");
    const commands = summary
      ? await handleComment(ctx, deps, { body: summary, author: sender.login, index: pr.number, isPull: true, headSha: pr.head.sha, task })
      : ignored('a review without a summary');
    if (!task) return commands;
    const feedbackId = await deps.tasks.addFeedback(task.id, { kind: 'comment', author: sender.login, body: summary, deliveryId: ctx.id, headSha: pr.head.sha });
    await deps.jobs.fetchReviewComments(feedbackId, { projectId: ctx.project.id, prNumber: pr.number, reviewer: sender.login, state: 'COMMENT' });
    return processed(`review comment by ${sender.login} kept for task ${task.id}${commands.status === 'processed' ? `; ${commands.note ?? 'commands run'}` : ''}`);
  },
};
