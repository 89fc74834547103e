import type { Project } from '../../src/projects/service.js';
import type { Task, TaskRow } from '../../src/tasks/model.js';
import { taskIdFromBody, taskIdFromBranch } from '../../src/tasks/model.js';
import { prBranch } from '../../src/gitea/events.js';
import type { PullRequestPayload } from '../../src/gitea/payloads.js';
import type { HandlerDeps } from '../types.js';

/** The task a pull request belongs to: its head branch, a `Task:` line, or an earlier link. */
export async function taskForPull(deps: HandlerDeps, project: Project, pr: Pick<PullRequestPayload['pull_request'], 'number' | 'body' | 'head'>): Promise<Task | null> {
  const id = taskIdFromBranch(prBranch(pr)) ?? taskIdFromBody(pr.body);
  if (id !== null) {
    const task = await deps.tasks.find(id);
    if (task && task.projectId === project.id) return task;
  }
  return deps.tasks.findByPr(project.id, pr.number);
}

export async function taskForBranch(deps: HandlerDeps, project: Project, branch: string): Promise<Task | null> {
  const id = taskIdFromBranch(branch);
  if (id === null) return null;
  const task = await deps.tasks.find(id);
  return task && task.projectId === project.id ? task : null;
}

/**
 * New commits on a task: a different head makes an approval stale and takes down a
 * ready_to_test until the new head's preview is up. The same head seen again (a late
 * push or sync delivery) changes nothing, so arrival order does not matter.
 */
export async function recordHead(
  deps: HandlerDeps,
  taskId: number,
  sha: string,
  opts: { actor: string; deliveryId: string; link?: Partial<TaskRow> },
): Promise<{ moved: boolean; changedHead: boolean }> {
  return deps.tasks.withTask(taskId, async (tx, row) => {
    const changedHead = row.head_sha !== sha;
    const patch: Partial<TaskRow> = { ...opts.link, head_sha: sha };
    if (changedHead && (row.state === 'approved' || row.state === 'ready_to_test')) {
      await deps.tasks.applyTransition(tx, row, 'in_progress', {
        source: 'gitea',
        actor: opts.actor,
        reason: row.state === 'approved' ? 'new commits after approval: the approval is stale' : 'new commits: waiting for their preview',
        deliveryId: opts.deliveryId,
        patch: { ...patch, preview_url: null },
      });
      return { moved: true, changedHead };
    }
    if (row.state === 'backlog') {
      await deps.tasks.applyTransition(tx, row, 'in_progress', {
        source: 'gitea',
        actor: opts.actor,
        reason: 'first push to the task branch',
        deliveryId: opts.deliveryId,
        patch,
      });
      return { moved: true, changedHead };
    }
    await deps.tasks.applyTransition(tx, row, row.state, { source: 'gitea', actor: opts.actor, patch });
    return { moved: false, changedHead };
  });
}
