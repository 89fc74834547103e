import { prBranch } from '../src/gitea/events.js';
import type { Task } from '../src/tasks/model.js';
import { ignored, processed, type HandlerDeps, type HandlerResult, type WebhookContext, type WebhookHandler } from './types.js';
import { taskForPull } from './lib/tasks.js';
import { giteaTime } from '../src/gitea/time.js';

type PullRequestDeps = Pick<HandlerDeps, 'jobs' | 'tasks'>;

/**
 * Links the PR and its head to the task, then deploys a preview of that head (at once; see
 * JobScheduler.deployPreview). A late delivery (its `updated_at` older than one already applied)
 * fills in missing links only: the newer delivery queued the deploy, which asks Gitea for the head.
 */
export async function linkAndPreview(ctx: WebhookContext<'pull_request' | 'pull_request_sync'>, deps: PullRequestDeps, task: Task): Promise<HandlerResult> {
  const pr = ctx.payload.pull_request;
  if (task.state === 'cancelled' || task.state === 'production') {
    return ignored(`task ${task.id} is ${task.state}; pull request #${pr.number} not linked`);
  }
  const { late } = await deps.tasks.recordHead(task.id, pr.head.sha, {
    actor: ctx.payload.sender.login,
    deliveryId: ctx.id,
    link: { pr_number: pr.number, pr_url: pr.html_url, branch: prBranch(pr) },
    prUpdatedAt: giteaTime(pr.updated_at),
  });
  if (late) return processed(`task ${task.id}: #${pr.number} ${ctx.payload.action} is older than what the task holds; its head ${pr.head.sha.slice(0, 7)} is not recorded`);
  const jobId = await deps.jobs.deployPreview(task.id, `pull request #${pr.number} ${ctx.payload.action}`);
  return processed(`task ${task.id} linked to #${pr.number}; preview job ${jobId}`);
}

async function merged(ctx: WebhookContext<'pull_request'>, deps: PullRequestDeps): Promise<HandlerResult> {
  const { project } = ctx;
  const pr = ctx.payload.pull_request;
  const actor = ctx.payload.sender.login;
  if (pr.base.ref === project.defaultBranch && prBranch(pr) === project.stagingBranch) {
    // A promotion: whatever was in staging is now in production.
    const staged = await deps.tasks.inStates(project.id, ['staging']);
    for (const t of staged) {
      await deps.tasks.transition(t.id, 'production', { source: 'gitea', actor, reason: `promoted by #${pr.number}`, deliveryId: ctx.id });
    }
    return processed(`promotion #${pr.number}: ${staged.length} task(s) in production`);
  }
  const task = await taskForPull(deps, project, pr);
  if (!task) return ignored(`#${pr.number} belongs to no task`);
  const target = pr.base.ref === project.stagingBranch ? 'staging' : pr.base.ref === project.defaultBranch ? 'production' : null;
  if (!target) return ignored(`#${pr.number} merged into ${pr.base.ref}, neither staging nor the default branch`);
  if (task.state === 'cancelled') return ignored(`task ${task.id} is cancelled`);
  await deps.tasks.transition(task.id, target, {
    source: 'gitea',
    actor,
    reason: `#${pr.number} merged into ${pr.base.ref}`,
    deliveryId: ctx.id,
    patch: { pr_number: pr.number, pr_url: pr.html_url },
  });
  await deps.jobs.teardownPreview(task.id, `#${pr.number} merged`);
  return processed(`task ${task.id} -> ${target}`);
}

async function closedUnmerged(ctx: WebhookContext<'pull_request'>, deps: PullRequestDeps): Promise<HandlerResult> {
  const pr = ctx.payload.pull_request;
  const task = await taskForPull(deps, ctx.project, pr);
  if (!task) return ignored(`#${pr.number} belongs to no task`);
  // A close Gitea sent before a reopen, arriving after it, must not take the reopened PR's preview down.
  if (await deps.tasks.notePullChange(task.id, giteaTime(pr.updated_at))) return ignored(`#${pr.number} closed is older than what task ${task.id} holds (reopened since)`);
  await deps.jobs.teardownPreview(task.id, `#${pr.number} closed`);
  const back = task.state === 'ready_to_test' || task.state === 'approved';
  if (back) {
    await deps.tasks.transition(task.id, 'in_progress', {
      source: 'gitea',
      actor: ctx.payload.sender.login,
      reason: `#${pr.number} closed without merge`,
      deliveryId: ctx.id,
      patch: { preview_url: null },
    });
  }
  return processed(`#${pr.number} closed: preview torn down${back ? `; task ${task.id} is back in progress` : ''}`);
}

export const pullRequest: WebhookHandler<'pull_request'> = {
  eventTypes: ['pull_request'],
  describe: 'links task PRs and deploys previews; merges move tasks to staging or production; closes tear previews down',
  async handle(ctx, deps: PullRequestDeps) {
    const { action, pull_request: pr } = ctx.payload;
    switch (action) {
      case 'opened':
      case 'reopened':
      case 'edited': {
        if (pr.state !== 'open') return ignored(`#${pr.number} is ${pr.state}`);
        const task = await taskForPull(deps, ctx.project, pr);
        if (!task) return ignored(`#${pr.number} belongs to no task`);
        if (action === 'edited' && task.prNumber === pr.number) return ignored('already linked');
        return linkAndPreview(ctx, deps, task);
      }
      case 'closed':
        return pr.merged ? merged(ctx, deps) : closedUnmerged(ctx, deps);
      default:
        return ignored(`pull_request action ${action} needs nothing`);
    }
  },
};
