import type { Job } from 'bullmq';
import type { GiteaClient, GiteaError } from '../../src/gitea/client.js';
import { acquireLock, jobOwner, lockKeys, waitTurn } from '../../src/queue/lock.js';
import { type MergeOutcome, type MergeRunKind } from '../../src/merges/runs.js';
import type { Project } from '../../src/projects/service.js';
import type { JobDeps } from '../types.js';
import { isLastAttempt } from '../../src/queue/attempts.js';
import { loadProject } from './project.js';

/** How long a train waits before asking again for the project's merge lock. */
const LOCK_WAIT_MS = 500;

/** What a merge run uses around its work. */
export type MergeRunDeps = Pick<JobDeps, 'mergeRuns' | 'log' | 'projects' | 'redis' | 'redisPrefix' | 'gitea'>;

export interface MergeRunContext {
  project: Project;
  gitea: GiteaClient;
}

/**
 * What staging trains and promotions share: the run's row in merge_runs, one job per project at a
 * time (a later job waits, delayed, until the lock is free) and the bookkeeping of failures.
 */
export async function runMergeJob(
  job: Job,
  token: string | undefined,
  deps: MergeRunDeps,
  o: { projectId: number; kind: MergeRunKind; requestedBy: string | null; taskIds: number[] },
  work: (ctx: MergeRunContext) => Promise<MergeOutcome>,
): Promise<MergeOutcome> {
  const jobId = job.id!;
  const runs = deps.mergeRuns;
  const log = deps.log.child({ jobId, projectId: o.projectId, kind: o.kind });
  const project = await loadProject(deps, o.projectId);
  await runs.open({ projectId: project.id, kind: o.kind, jobId, requestedBy: o.requestedBy, taskIds: o.taskIds });

  const lock = await acquireLock(deps.redis, lockKeys.merge(deps.redisPrefix, project.id), jobOwner(job));
  if (!lock) throw await waitTurn(job, token, LOCK_WAIT_MS);
  try {
    await runs.start(jobId);
    let outcome: MergeOutcome;
    if (!deps.gitea) {
      outcome = { status: 'nothing_to_do', merged: [], conflicts: [], skipped: [], revision: null, note: 'Gitea is not configured: nothing was merged' };
      log.info({ taskIds: o.taskIds }, 'Gitea not configured: merge logged, not sent');
    } else {
      outcome = await work({ project, gitea: deps.gitea });
    }
    await runs.finish(jobId, outcome);
    log.info({ status: outcome.status, merged: outcome.merged.length, conflicts: outcome.conflicts.length, revision: outcome.revision }, `${o.kind} merge finished`);
    return outcome;
  } catch (err) {
    const final = isLastAttempt(job, err);
    await runs.recordError(jobId, (err as Error).message ?? String(err), final);
    log.warn({ err, attempt: job.attemptsMade + 1, final }, `${o.kind} merge failed`);
    throw err;
  } finally {
    await lock.release();
  }
}

/** Gitea answers a merge conflict with its ErrMergeConflicts struct as JSON, which has no `message`. */
function describeRefusal(message: string, base: string): string {
  if (message === 'head out of date') return 'new commits arrived on the pull request in the meantime (head out of date)';
  const files = [...new Set([...message.matchAll(/Merge conflict in ([^\s"\\]+)/g)].map((m) => m[1]))];
  if (files.length) return `its changes conflict with \`${base}\` in ${files.map((f) => `\`${f}\``).join(', ')}`;
  if (/"Style"\s*:|conflict/i.test(message)) return `its changes conflict with \`${base}\``;
  return message;
}

/**
 * Why Gitea cannot merge the PR into `base`, or null when the failure is not the PR's fault (the job
 * should retry). 405 "Please try again later" is also Gitea's answer for a PR with conflicts, so once
 * the client's own retries are spent the PR is read again: `mergeable: false` means it really cannot.
 */
export async function unmergeableReason(gitea: GiteaClient, project: Project, prNumber: number, err: GiteaError, base: string): Promise<string | null> {
  if (err.status === 409) return describeRefusal(err.giteaMessage, base) || 'Gitea reported a conflict';
  if (err.status === 405 && !err.retryable) return err.giteaMessage || 'Gitea does not allow this merge';
  if (err.status === 405) {
    const pull = await gitea.getPull(project.owner, project.repoName, prNumber);
    if (!pull.mergeable) return `Gitea reports that it cannot be merged into \`${base}\` (conflicting changes)`;
  }
  return null;
}
