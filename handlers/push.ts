import { ignored, processed, type WebhookHandler, type HandlerDeps } from './types.js';
import { taskForBranch } from './lib/tasks.js';
import { convergeBranchHead } from './lib/branch-head.js';

type PushDeps = Pick<HandlerDeps, 'botLogin' | 'gitea' | 'jobs' | 'tasks'>;

const ZERO_SHA = /^0+$/;

export const TEST_DELIVERY_NOTE = "before equals after: this looks like Gitea's test delivery (the Test Delivery button); nothing moved, nothing synced";

/** Pushes to task branches move their tasks; pushes to staging or the default branch drive the Argo CD sync. */
export const push: WebhookHandler<'push'> = {
  eventTypes: ['push'],
  describe: 'task branch pushes (first push, stale approval); staging/default branch pushes (environment sync)',
  async handle(ctx, deps: PushDeps) {
    const p = ctx.payload;
    // Gitea's "Test Delivery" sends the branch's latest commit as both before and after; no real
    // push looks like that, and acting on it would sync production from a button press.
    if (p.before === p.after) return ignored(TEST_DELIVERY_NOTE);
    if (!p.ref.startsWith('refs/heads/')) return ignored(`push to ${p.ref} (not a branch)`);
    if (ZERO_SHA.test(p.after)) return ignored('branch deleted');
    const branch = p.ref.slice('refs/heads/'.length);
    const { project } = ctx;

    if (branch === project.stagingBranch || branch === project.defaultBranch) {
      const environment = branch === project.stagingBranch ? 'staging' : 'production';
      const application = environment === 'staging' ? project.argocdApplication : project.argocdProductionApplication;
      if (!application) return processed(`push to ${branch} recorded; no Argo CD application configured for ${environment}`);
      // aiworker's own merges (merge train, promotion) queue this sync themselves, naming the tasks
      // they landed; Gitea sends this push while the merge call is still running, so a sync queued
      // here would win the shared job id and publish deploy:started without them.
      const pusher = (p.pusher ?? p.sender).login;
      if (pusher && pusher === (await deps.botLogin())) {
        return processed(`push to ${branch} by aiworker's own merge recorded; that merge queues the ${environment} sync with its tasks`);
      }
      const jobId = await deps.jobs.syncEnvironment(project.id, environment, p.after);
      return processed(`push to ${branch} queued ${environment} sync ${jobId}`);
    }

    const task = await taskForBranch(deps, project, branch);
    if (!task) return ignored(`branch ${branch} is not a task branch of this project`);
    const { moved, changedHead, note } = await convergeBranchHead(ctx, deps, task, branch, { before: p.before ?? null, after: p.after, actor: p.sender.login });
    if (note && !changedHead) return ignored(`push to task ${task.id}: ${note}`);
    // The preview deploy asks Gitea for the PR's head again when it runs, so pushes that come while it waits join it.
    if (changedHead && task.prNumber) await deps.jobs.deployPreview(task.id, `push to ${branch}`);
    return processed(`push to task ${task.id}${moved ? ' moved it' : ''}${note ? `; ${note}` : ''}`);
  },
};
