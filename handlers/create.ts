import { ignored, processed, type WebhookHandler, type HandlerDeps } from './types.js';
import { taskForBranch } from './lib/tasks.js';
import { convergeBranchHead } from './lib/branch-head.js';

type CreateDeps = Pick<HandlerDeps, 'gitea' | 'tasks'>;

/** A task branch was created: link it to its task, which an agent is now working on. */
export const branchCreated: WebhookHandler<'create'> = {
  eventTypes: ['create'],
  describe: 'links a new task-<id>-<slug> branch to its task (backlog -> in_progress)',
  async handle(ctx, deps: CreateDeps) {
    const p = ctx.payload;
    if (p.ref_type !== 'branch') return ignored(`${p.ref_type} created`);
    const task = await taskForBranch(deps, ctx.project, p.ref);
    if (!task) return ignored(`branch ${p.ref} is not a task branch of this project`);
    // A branch created is a push from nothing: late, it takes back no head the task moved on from.
    const { note, changedHead } = await convergeBranchHead(ctx, deps, task, p.ref, { before: null, after: p.sha, actor: p.sender.login });
    if (note && !changedHead) return ignored(`branch ${p.ref} created, but ${note}`);
    return processed(`branch ${p.ref} linked to task ${task.id}${note ? `; ${note}` : ''}`);
  },
};
