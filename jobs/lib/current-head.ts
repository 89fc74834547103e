import type { Job } from 'bullmq';
import { openPullHead } from '../../src/gitea/pull-head.js';
import type { Logger } from '../../src/log.js';
import type { Project } from '../../src/projects/service.js';
import { isLastAttempt } from '../../src/queue/attempts.js';
import type { Task } from '../../src/tasks/model.js';
import type { JobDeps } from '../types.js';
import { PREVIEW_ACTOR } from './preview.js';

export type HeadToDeploy = { sha: string } | { skip: string };

/**
 * What a preview deploys: the PR's head as Gitea's API reports it now (`GET …/pulls/{index}`), not
 * what a delivery said, since Gitea sends deliveries once and in any order. A head that differs
 * from the task's is recorded first (the same rule as new commits). Without Gitea configured, the
 * recorded head; Gitea failing, the attempt fails and is retried, and the last attempt deploys
 * the recorded head rather than nothing. A closed or vanished PR has nothing to deploy.
 */
export async function headToDeploy(job: Job, deps: Pick<JobDeps, 'gitea' | 'tasks'>, task: Task & { prNumber: number; headSha: string }, project: Project, log: Logger): Promise<HeadToDeploy> {
  if (!deps.gitea) return { sha: task.headSha };
  let head;
  try {
    head = await openPullHead(deps.gitea, project, task.prNumber);
  } catch (err) {
    if (!isLastAttempt(job)) throw err;
    log.warn({ err: (err as Error).message }, "Gitea did not say the PR's head; deploying the recorded head");
    return { sha: task.headSha };
  }
  if ('gone' in head) return { skip: `pull request #${task.prNumber} ${head.gone}` };
  if (head.sha !== task.headSha) {
    log.info({ recorded: task.headSha, current: head.sha }, "the PR's head moved on from the recorded one; recording and deploying Gitea's");
    await deps.tasks.recordHead(task.id, head.sha, { prUpdatedAt: head.updatedAt, actor: PREVIEW_ACTOR, deliveryId: null });
  }
  return { sha: head.sha };
}
