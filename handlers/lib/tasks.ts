import type { Project } from '../../src/projects/service.js';
import type { Task } from '../../src/tasks/model.js';
import { taskIdFromBody, taskIdFromBranch } from '../../src/tasks/model.js';
import { prBranch } from '../../src/gitea/events.js';
import type { PullRequestPayload } from '../../src/gitea/payloads.js';
import type { HandlerDeps } from '../types.js';

/** The task a pull request belongs to: its head branch, a `Task:` line, or an earlier link. */
export async function taskForPull(deps: Pick<HandlerDeps, 'tasks'>, project: Project, pr: Pick<PullRequestPayload['pull_request'], 'number' | 'body' | 'head'>): Promise<Task | null> {
  const id = taskIdFromBranch(prBranch(pr)) ?? taskIdFromBody(pr.body);
  if (id !== null) {
    const task = await deps.tasks.find(id);
    if (task && task.projectId === project.id) return task;
  }
  return deps.tasks.findByPr(project.id, pr.number);
}

export async function taskForBranch(deps: Pick<HandlerDeps, 'tasks'>, project: Project, branch: string): Promise<Task | null> {
  const id = taskIdFromBranch(branch);
  if (id === null) return null;
  const task = await deps.tasks.find(id);
  return task && task.projectId === project.id ? task : null;
}
