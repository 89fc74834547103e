import { createHash } from 'node:crypto';
import { z } from 'zod';
import { replyMark } from '../../gitea/replies.js';
import { isGiteaStatus } from '../../gitea/client.js';
import { branchName, taskIdFromBody } from '../../tasks/model.js';
import type { McpDeps, RepoApi } from '../server.js';
import { defineTool, taskIdField, ToolError } from './types.js';

function requireGitea(deps: McpDeps, what: string): RepoApi {
  if (!deps.gitea) throw new ToolError(`Gitea is not configured on this aiworker (GITEA_URL and GITEA_TOKEN): cannot ${what}`);
  return deps.gitea;
}

/** The `Task: <id>` line links the PR to its task even if the branch is renamed (SPEC §2). */
export function withTaskLine(body: string | undefined, taskId: number): string {
  const text = (body ?? '').trimEnd();
  if (taskIdFromBody(text) === taskId) return text;
  return text ? `${text}\n\nTask: ${taskId}` : `Task: ${taskId}`;
}

export const createBranch = defineTool({
  name: 'create_branch',
  description:
    "Create the branch of a task you hold in its Gitea repository, named task-<id>-<slug>, from the project's staging branch " +
    '(which is created from the default branch when missing). Calling it again returns the same branch. Returns {branch}; push your commits there.',
  input: {
    taskId: taskIdField,
    slug: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .optional()
      .describe('A few words for the branch name (lowercased, other characters become -); default: the task title.'),
  },
  readOnly: false,
  async run({ taskId, slug }, { deps, ownTask }) {
    const task = await ownTask(taskId);
    const gitea = requireGitea(deps, 'create branches');
    const branch = slug === undefined && task.branch ? task.branch : branchName(taskId, slug ?? task.title);
    if (task.branch && task.branch !== branch) {
      throw new ToolError(`task ${taskId} already has the branch ${task.branch}: push there (create_branch without a slug returns it)`);
    }
    const project = await deps.projects.get(task.projectId);
    await gitea.ensureBranch(project.owner, project.repoName, project.stagingBranch, project.defaultBranch);
    await gitea.ensureBranch(project.owner, project.repoName, branch, project.stagingBranch);
    if (task.branch !== branch) await deps.tasks.linkPull(taskId, { branch });
    return { branch };
  },
});

export const createPr = defineTool({
  name: 'create_pr',
  description:
    "Open a pull request from the branch of a task you hold into the project's staging branch; a 'Task: <id>' line is added to the body " +
    'so it stays linked. If that pull request is already open, returns it. Returns {prNumber, prUrl}.',
  input: {
    taskId: taskIdField,
    title: z.string().trim().min(1).max(255).describe('The pull request title.'),
    body: z.string().max(65_000).optional().describe('The pull request description, in Markdown.'),
  },
  readOnly: false,
  async run({ taskId, title, body }, { deps, ownTask }) {
    const task = await ownTask(taskId);
    const gitea = requireGitea(deps, 'open pull requests');
    if (!task.branch) throw new ToolError(`task ${taskId} has no branch yet: call create_branch, push your commits, then create_pr`);
    const project = await deps.projects.get(task.projectId);
    const { owner, repoName } = project;
    let pr;
    try {
      pr = await gitea.createPull(owner, repoName, { head: task.branch, base: project.stagingBranch, title, body: withTaskLine(body, taskId) });
    } catch (err) {
      // 409: this head already has an open pull request into the base (a retry, or one opened by hand).
      if (!isGiteaStatus(err, 409)) throw err;
      pr = await gitea.findPull(owner, repoName, project.stagingBranch, task.branch);
      if (!pr) throw err;
    }
    await deps.tasks.linkPull(taskId, { prNumber: pr.number, prUrl: pr.html_url });
    return { prNumber: pr.number, prUrl: pr.html_url };
  },
});

/** What tells one comment of an agent from another: its idempotency key, or else its text. */
function commentKey(body: string, idempotencyKey: string | undefined): string {
  return idempotencyKey ?? `body-${createHash('sha256').update(body).digest('hex').slice(0, 24)}`;
}

export const addComment = defineTool({
  name: 'add_comment',
  description:
    'Post a comment on the pull request of a task you hold (or on its issue when there is no pull request). Returns {commentId}. ' +
    'Safe to retry: a call repeated with the same idempotencyKey (or, without one, the same body) finds the comment the first call ' +
    'posted and returns its commentId instead of posting it again.',
  input: {
    taskId: taskIdField,
    body: z.string().trim().min(1).max(65_000).describe('The comment, in Markdown.'),
    idempotencyKey: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,100}$/, 'letters, digits, . _ : - (at most 100)')
      .optional()
      .describe(
        'Names this comment (e.g. a UUID you make per comment): calls with the same key on the same task post one comment. ' +
          'Default: the body itself, so posting the very same text twice needs two different keys.',
      ),
  },
  readOnly: false,
  async run({ taskId, body, idempotencyKey }, { deps, agent, ownTask }) {
    const task = await ownTask(taskId);
    requireGitea(deps, 'comment');
    const index = task.prNumber ?? task.issueNumber;
    if (index === null) throw new ToolError(`task ${taskId} has neither a pull request nor an issue to comment on: open one with create_pr`);
    const project = await deps.projects.get(task.projectId);
    // The bot account posts it, so the comment says which agent wrote it.
    const text = `**Agent ${agent.name}** (task ${taskId}):\n\n${body}`;
    const mark = replyMark(`comment=task-${taskId}:agent-${agent.id}:${commentKey(body, idempotencyKey)}`);
    // Any call may repeat one whose answer was lost after Gitea took the comment: look for it first.
    const earlier = await deps.replies.findMarkedComment(project, index, mark);
    if (earlier) {
      if (idempotencyKey !== undefined && !earlier.body.includes(text)) {
        throw new ToolError(`idempotencyKey ${idempotencyKey} was used for another comment on task ${taskId} (commentId ${earlier.id}): use a new key for a new comment`);
      }
      return { commentId: earlier.id };
    }
    const commentId = await deps.replies.post(project, index, text, mark);
    return { commentId };
  },
});
