import type { Job } from 'bullmq';
import { GiteaError } from '../src/gitea/client.js';
import { replyMark } from '../src/gitea/replies.js';
import { mayHaveRunBefore } from '../src/queue/attempts.js';
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

/** One failed merge of a task's pull request, at the head that was tried. */
interface Conflict {
  task: Task;
  prNumber: number;
  reason: string;
  headSha: string;
}

/**
 * Says on the PR why it was not merged, once per task and head: a run of the job after one that
 * may have posted it (retried, or taken over from a worker that died) looks for its mark first.
 */
async function commentConflict(deps: Deps, job: Job, project: Project, c: Conflict): Promise<void> {
  try {
    const mark = replyMark(`merge-conflict=task-${c.task.id}:${c.headSha}`);
    await deps.replies.postOnce(project, c.prNumber, conflictComment(project, c.task, c.reason), mark, mayHaveRunBefore(job));
  } catch (err) {
    // The state change and the feedback are recorded; a lost comment must not re-run the train.
    deps.log.warn({ err, taskId: c.task.id, prNumber: c.prNumber }, 'could not comment on the conflicting pull request');
  }
}

/**
 * Sends a task Gitea could not merge back to its agent, saying why in the task's feedback and on
 * the PR. The feedback comes first: a run of the job that finds it knows this job sent the task
 * back, and only says so on the PR if that is still missing.
 */
async function sendBack(deps: Deps, job: Job, project: Project, c: Conflict): Promise<void> {
  const { task, reason } = c;
  await deps.tasks.addFeedback(task.id, { kind: 'merge_conflict', author: ACTOR, body: reason, deliveryId: job.id!, headSha: c.headSha });
  try {
    await deps.tasks.transition(task.id, 'in_progress', { source: 'system', actor: ACTOR, reason: `merge into ${project.stagingBranch} failed: ${reason}` });
  } catch (err) {
    // Someone moved the task meanwhile (new commits, a rejection): it is out of the train either way.
    if (!(err instanceof TransitionError)) throw err;
  }
  await commentConflict(deps, job, project, c);
}

/** The conflict an earlier run of this job sent the task back for, if it did. */
async function earlierConflict(deps: Deps, job: Job, task: Task, prNumber: number): Promise<Conflict | null> {
  if (!mayHaveRunBefore(job)) return null;
  const recorded = await deps.tasks.feedbackOf(task.id, job.id!);
  if (recorded?.kind !== 'merge_conflict') return null;
  return { task, prNumber, reason: recorded.body, headSha: recorded.headSha ?? task.headSha ?? '' };
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
          // Sent back by an earlier run of this job, which may not have lived to say so on the PR.
          const earlier = await earlierConflict(deps, job, task, prNumber);
          if (earlier) {
            conflicts.push({ taskId: task.id, prNumber, reason: earlier.reason });
            await commentConflict(deps, job, project, earlier);
            continue;
          }
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
        // The approved head: if the PR moved since, Gitea refuses with 409 instead of merging unreviewed code.
        const headSha = task.headSha ?? pull.head.sha;
        try {
          await gitea.mergePull(owner, repoName, prNumber, { style: project.mergeStyle, headCommitId: headSha });
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
          await sendBack(deps, job, project, { task, prNumber, reason, headSha });
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
