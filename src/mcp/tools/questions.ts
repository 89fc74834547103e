import { z } from 'zod';
import { replyMark } from '../../gitea/replies.js';
import type { AskedQuestion } from '../../tasks/service.js';
import { defineTool, taskIdField, ToolError, type ToolContext } from './types.js';

/** Stays inside the 60 s default request timeout of the MCP SDK clients. */
export const MAX_WAIT_SECONDS = 50;

function questionComment(agentName: string, taskId: number, question: string): string {
  const quoted = question
    .split('\n')
    .map((line) => `> ${line}`)
    .join('\n');
  return (
    `**Question from agent ${agentName}** (task ${taskId}):\n\n${quoted}\n\n` +
    'Reply with a comment to answer it (someone with write access), or use `/answer <text>`.'
  );
}

/**
 * Posts the question where people look, marked with its id, once: a retry of the call looks for the
 * mark first, since the call it repeats may have posted it without living to note the comment's id.
 * The question is stored either way, so a failed post is only logged (asking again posts it).
 */
async function postQuestion(ctx: ToolContext, asked: AskedQuestion, question: string): Promise<void> {
  const { deps, agent } = ctx;
  const { task, questionId } = asked;
  const index = task.prNumber ?? task.issueNumber;
  if (index === null || asked.commentId !== null) return;
  try {
    const project = await deps.projects.get(task.projectId);
    const body = questionComment(agent.name, task.id, question);
    const commentId = await deps.replies.postOnce(project, index, body, replyMark(`question=${questionId}`), asked.repeated);
    if (commentId !== null) await deps.tasks.recordQuestionComment(questionId, commentId, task.id);
  } catch (err) {
    deps.log.warn({ err, taskId: task.id, questionId }, 'question not posted on Gitea; it is visible in the API and the feed');
  }
}

export const askUserQuestion = defineTool({
  name: 'ask_user_question',
  description:
    'Ask a person a question about a task you hold. The task moves to needs_input and the question is posted on its pull request ' +
    '(or its issue when there is no pull request). Wait for the answer with check_response. Returns {questionId}. ' +
    'Asking the same question again while it is open (a retry after a lost answer) returns the same questionId and posts it at most once.',
  input: {
    taskId: taskIdField,
    question: z.string().trim().min(1).max(10_000).describe('The question, in Markdown; make it answerable without other context.'),
  },
  readOnly: false,
  async run({ taskId, question }, ctx) {
    await ctx.ownTask(taskId);
    const asked = await ctx.deps.tasks.ask(taskId, ctx.agent.id, question, ctx.actor);
    await postQuestion(ctx, asked, question);
    return { questionId: asked.questionId };
  },
});

export const checkResponse = defineTool({
  name: 'check_response',
  description:
    "Whether the latest question on a task has been answered. With waitSeconds, waits up to that long for the answer when there is none yet " +
    `(at most ${MAX_WAIT_SECONDS}). Returns {answered, response?}.`,
  input: {
    taskId: taskIdField,
    waitSeconds: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe(`Seconds to wait for an answer when there is none yet; default 0, larger values than ${MAX_WAIT_SECONDS} are capped.`),
  },
  readOnly: true,
  async run({ taskId, waitSeconds }, { deps, signal }) {
    const latest = async () => {
      const question = await deps.tasks.latestQuestion(taskId);
      if (!question) {
        if (!(await deps.tasks.find(taskId))) throw new ToolError(`task ${taskId} not found`);
        throw new ToolError(`task ${taskId} has no question: ask one with ask_user_question`);
      }
      return question;
    };
    let question = await latest();
    const waitMs = Math.min(waitSeconds ?? 0, MAX_WAIT_SECONDS) * 1000;
    if (question.answeredAt === null && waitMs > 0) {
      await deps.answers.waitFor(
        taskId,
        waitMs,
        async () => {
          question = await latest();
          return question.answeredAt !== null;
        },
        signal,
      );
    }
    return question.answeredAt === null ? { answered: false } : { answered: true, response: question.answer };
  },
});
