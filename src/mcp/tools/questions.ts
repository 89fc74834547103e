import { z } from 'zod';
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

/** Posts the question where people look; the question is stored either way, so a failed post is only logged. */
async function postQuestion(ctx: ToolContext, taskId: number, questionId: number, question: string): Promise<void> {
  const { deps, agent } = ctx;
  const task = await deps.tasks.get(taskId);
  const index = task.prNumber ?? task.issueNumber;
  if (index === null) return;
  try {
    const project = await deps.projects.get(task.projectId);
    const commentId = await deps.replies.post(project, index, questionComment(agent.name, taskId, question));
    if (commentId !== null) await deps.tasks.recordQuestionComment(questionId, commentId, taskId);
  } catch (err) {
    deps.log.warn({ err, taskId, questionId }, 'question not posted on Gitea; it is visible in the API and the feed');
  }
}

export const askUserQuestion = defineTool({
  name: 'ask_user_question',
  description:
    'Ask a person a question about a task you hold. The task moves to needs_input and the question is posted on its pull request ' +
    '(or its issue when there is no pull request). Wait for the answer with check_response. Returns {questionId}.',
  input: {
    taskId: taskIdField,
    question: z.string().trim().min(1).max(10_000).describe('The question, in Markdown; make it answerable without other context.'),
  },
  readOnly: false,
  async run({ taskId, question }, ctx) {
    await ctx.ownTask(taskId);
    const { questionId } = await ctx.deps.tasks.ask(taskId, ctx.agent.id, question, ctx.actor);
    await postQuestion(ctx, taskId, questionId, question);
    return { questionId };
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
