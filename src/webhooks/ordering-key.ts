import { prBranch, repositoryOf, type Loose } from '../gitea/events.js';
import { taskIdFromBody, taskIdFromBranch } from '../tasks/model.js';

/**
 * Deliveries with the same key are handled one at a time in delivery order: the same task when
 * the branch or a `Task:` line names it, otherwise the same pull request, issue or branch.
 */
export function orderingKey(eventType: string, payload: unknown): string | null {
  const p = payload as Loose;
  const repo = repositoryOf(p);
  if (!repo || typeof p !== 'object') return null;
  const pr = p.pull_request ?? null;
  const taskId =
    taskIdFromBranch(prBranch(pr)) ??
    (typeof pr?.body === 'string' ? taskIdFromBody(pr.body) : null) ??
    (typeof p.ref === 'string' ? taskIdFromBranch(p.ref) : null);
  if (taskId !== null) return `${repo}|task:${taskId}`;
  const number = pr?.number ?? p.issue?.number ?? (eventType.startsWith('pull_request') ? p.number : undefined);
  if (typeof number === 'number') return `${repo}|issue:${number}`;
  if (typeof p.ref === 'string') return `${repo}|ref:${p.ref.replace(/^refs\/heads\//, '')}`;
  return null;
}
