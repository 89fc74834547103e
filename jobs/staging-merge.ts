import { GiteaError } from '../src/gitea/client.js';
import { TransitionError } from '../src/errors.js';
import type { ConflictEntry, MergedEntry, MergeOutcome, SkippedEntry } from '../src/merges/runs.js';
import type { Project } from '../src/projects/service.js';
import type { Task } from '../src/tasks/model.js';
import { runMergeJob, unmergeableReason } from './lib/merge-run.js';
import type { JobDefinition, JobDeps } from './types.js';

type Deps = Pick<JobDeps, 'jobs' | 'log' | 'replies' | 'tasks' | 'projects' | 'gitea' | 'mergeRuns' | 'redis' | 'redisPrefix'>;

export interface StagingMergeData {
  projectId: number;
  taskIds: number[];
  requestedBy: string;
}

export interface StagingMergeResult extends MergeOutcome {
  syncJobId: string | null;
}

const ACTOR = 'aiworker';

/** Oldest approval first, then task id: the order the train merges in. */
function approvalOrder(a: Task, b: Task): number {
  const at = (t: Task) => (t.approvedAt ? Date.parse(t.approvedAt) : Number.POSITIVE_INFINITY);
  return at(a) - at(b) || a.id - b.id;
}

function conflictComment(project: Project, task: Task, reason: string): string {
  return [
    `Could not merge this pull request into \`${project.stagingBranch}\`: ${reason}.`,
    '',
    `Task ${task.id} is back in progress. Bring the branch up to date with \`${project.stagingBranch}\`, resolve the conflicts and push; it needs a new approval before the next merge train.`,
  ].join('\n');
}

/** Sends a task Gitea could not merge back to its agent, saying why on the PR and in the task's feedback. */
async function sendBack(deps: Deps, jobId: string, project: Project, task: Task, prNumber: number, reason: string): Promise<void> {
  try {
    await deps.tasks.transition(task.id, 'in_progress', { source: 'system', actor: ACTOR, reason: `merge into ${project.stagingBranch} failed: ${reason}` });
  } catch (err) {
    // Someone moved the task meanwhile (new commits, a rejection): it is out of the train either way.
    if (!(err instanceof TransitionError)) throw err;
  }
  await deps.tasks.addFeedback(task.id, { kind: 'merge_conflict', author: ACTOR, body: reason, deliveryId: jobId });
  try {
    await deps.replies.post(project, prNumber, conflictComment(project, task, reason));
  } catch (err) {
    // The state change and the feedback are recorded; a lost comment must not re-run the train.
    deps.log.warn({ err, taskId: task.id, prNumber }, 'could not comment on the conflicting pull request');
  }
}

/**
 * Merges approved PRs into the staging branch in approval order through Gitea's merge API. It does
 * not move tasks: Gitea's `pull_request` merged deliveries do. A retry skips what is already merged.
 */
export const stagingMerge: JobDefinition<StagingMergeData> = {
  queue: 'merge',
  name: 'staging-merge',
  async process(job, deps: Deps, token): Promise<StagingMergeResult> {
    const { projectId, taskIds, requestedBy } = job.data;
    let syncJobId: string | null = null;
    const outcome = await runMergeJob(job, token, deps, { projectId, kind: 'staging', requestedBy, taskIds }, async ({ project, gitea }) => {
      const { owner, repoName } = project;
      await gitea.ensureBranch(owner, repoName, project.stagingBranch, project.defaultBranch);

      const found = await Promise.all([...new Set(taskIds)].map(async (id) => ({ id, task: await deps.tasks.find(id) })));
      const merged: MergedEntry[] = [];
      const conflicts: ConflictEntry[] = [];
      const skipped: SkippedEntry[] = [];
      // Tasks whose PR is in staging now, merged by this attempt or an earlier one of this job.
      const landed: number[] = [];
      for (const { id } of found.filter((f) => !f.task)) skipped.push({ taskId: id, prNumber: null, reason: 'task not found' });
      const tasks = found.flatMap((f) => (f.task ? [f.task] : [])).sort(approvalOrder);

      for (const task of tasks) {
        const prNumber = task.prNumber;
        const skip = (reason: string) => skipped.push({ taskId: task.id, prNumber, reason });
        if (task.projectId !== project.id) {
          skip(`belongs to project ${task.projectId}`);
          continue;
        }
        if (task.state === 'staging' || task.state === 'production') {
          skip(`already in ${task.state}`);
          continue;
        }
        if (prNumber === null) {
          skip('has no pull request');
          continue;
        }
        if (await gitea.isMerged(owner, repoName, prNumber)) {
          skip('already merged');
          landed.push(task.id);
          continue;
        }
        if (task.state !== 'approved') {
          skip(`is ${task.state}, not approved`);
          continue;
        }
        const pull = await gitea.getPull(owner, repoName, prNumber);
        if (pull.state !== 'open') {
          skip('the pull request is closed');
          continue;
        }
        if (pull.base.ref !== project.stagingBranch) {
          skip(`the pull request targets ${pull.base.ref}, not ${project.stagingBranch}`);
          continue;
        }
        try {
          // The approved head: if the PR moved since, Gitea refuses with 409 instead of merging unreviewed code.
          await gitea.mergePull(owner, repoName, prNumber, { style: project.mergeStyle, headCommitId: task.headSha ?? pull.head.sha });
        } catch (err) {
          if (!(err instanceof GiteaError)) throw err;
          // A response lost after Gitea merged comes back as 405 on the client's retry.
          if ((err.status === 405 || err.status === 409) && (await gitea.isMerged(owner, repoName, prNumber))) {
            merged.push({ taskId: task.id, prNumber });
            landed.push(task.id);
            continue;
          }
          if (err.status === 404) {
            skip('the pull request is closed');
            continue;
          }
          const reason = await unmergeableReason(gitea, project, prNumber, err, project.stagingBranch);
          if (reason === null) throw err;
          conflicts.push({ taskId: task.id, prNumber, reason });
          await sendBack(deps, job.id!, project, task, prNumber, reason);
          continue;
        }
        merged.push({ taskId: task.id, prNumber });
        landed.push(task.id);
      }

      let revision: string | null = null;
      if (landed.length) {
        revision = (await gitea.getBranch(owner, repoName, project.stagingBranch))?.commit.id ?? null;
        // The push to staging queues the same sync (same job id from the revision): whichever comes first runs.
        if (project.argocdApplication && revision) syncJobId = await deps.jobs.syncEnvironment(project.id, 'staging', revision, landed);
      }
      const status = conflicts.length ? 'conflicts' : landed.length ? 'succeeded' : 'nothing_to_do';
      return { status, merged, conflicts, skipped, revision };
    });
    return { ...outcome, syncJobId };
  },
};
