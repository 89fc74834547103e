import { GiteaError, isGiteaStatus, type GiteaClient, type GiteaPullRequest } from '../src/gitea/client.js';
import type { MergeOutcome } from '../src/merges/runs.js';
import { replyMark } from '../src/gitea/replies.js';
import { mayHaveRunBefore } from '../src/queue/attempts.js';
import type { Project } from '../src/projects/service.js';
import type { Task } from '../src/tasks/model.js';
import { runMergeJob, unmergeableReason } from './lib/merge-run.js';
import type { JobDefinition, JobDeps } from './types.js';

type Deps = Pick<JobDeps, 'jobs' | 'replies' | 'tasks' | 'projects' | 'gitea' | 'log' | 'mergeRuns' | 'redis' | 'redisPrefix'>;

export interface PromotionData {
  projectId: number;
  requestedBy: string;
}

export interface PromotionResult extends MergeOutcome {
  prNumber: number | null;
  syncJobId: string | null;
}

/** The open PR from staging into the default branch, if there is one. */
async function openPromotion(gitea: GiteaClient, project: Project): Promise<GiteaPullRequest | null> {
  const pull = await gitea.findPull(project.owner, project.repoName, project.defaultBranch, project.stagingBranch);
  return pull?.state === 'open' ? pull : null;
}

/** Gitea before 1.22 has no lookup by branches: the 409 of a second create is how we learn of the PR. */
async function listedPromotion(gitea: GiteaClient, project: Project): Promise<GiteaPullRequest | null> {
  const open = await gitea.listPulls(project.owner, project.repoName, { state: 'open', limit: 50 });
  return open.find((p) => p.head.ref === project.stagingBranch && p.base.ref === project.defaultBranch) ?? null;
}

/** Lists the tasks without `Task: <id>` lines: those would link the promotion PR to one task. */
function promotionBody(project: Project, staged: Task[]): string {
  const lines = staged.map((t) => `- task ${t.id}: ${t.title}${t.prNumber ? ` (#${t.prNumber})` : ''}`);
  return [
    `Promotes \`${project.stagingBranch}\` to \`${project.defaultBranch}\`, opened by aiworker.`,
    '',
    staged.length ? `Tasks in staging:\n${lines.join('\n')}` : 'No task is in staging; the branch carries other changes.',
  ].join('\n');
}

/**
 * Promotes staging to production: opens (or reuses) the PR from the staging branch to the default
 * branch and merges it. Gitea's merged delivery moves the staged tasks to production; the merge's
 * push to the default branch and this job both queue the production sync (one runs).
 */
export const promotion: JobDefinition<PromotionData> = {
  queue: 'merge',
  name: 'promotion',
  async process(job, deps: Deps, token): Promise<PromotionResult> {
    const { projectId, requestedBy } = job.data;
    let prNumber: number | null = null;
    let syncJobId: string | null = null;
    const outcome = await runMergeJob(job, token, deps, { projectId, kind: 'promotion', requestedBy, taskIds: [] }, async ({ project, gitea }) => {
      const { owner, repoName, stagingBranch, defaultBranch } = project;
      const staged = await deps.tasks.inStates(project.id, ['staging']);
      const taskIds = staged.map((t) => t.id);
      const nothing = (note: string): MergeOutcome => ({ status: 'nothing_to_do', merged: [], conflicts: [], skipped: [], revision: null, note, taskIds });

      const [staging, production] = await Promise.all([
        gitea.getBranch(owner, repoName, stagingBranch),
        gitea.getBranch(owner, repoName, defaultBranch),
      ]);
      if (!staging) return nothing(`nothing to promote: there is no ${stagingBranch} branch`);
      if (!production) throw new Error(`the default branch ${defaultBranch} does not exist in ${project.repo}`);
      if (staging.commit.id === production.commit.id) return nothing(`nothing to promote: ${stagingBranch} and ${defaultBranch} are at the same commit`);

      let pull = await openPromotion(gitea, project);
      if (!pull) {
        try {
          pull = await gitea.createPull(owner, repoName, {
            head: stagingBranch,
            base: defaultBranch,
            title: `Promote ${stagingBranch} to ${defaultBranch}`,
            body: promotionBody(project, staged),
          });
        } catch (err) {
          // 422: Gitea sees no changes between the branches.
          if (isGiteaStatus(err, 422)) return nothing(`nothing to promote: ${err.giteaMessage || `no changes between ${stagingBranch} and ${defaultBranch}`}`);
          if (!isGiteaStatus(err, 409)) throw err;
          pull = await listedPromotion(gitea, project);
          if (!pull) throw err;
        }
      }
      prNumber = pull.number;
      // Staging already contained in the default branch (e.g. right after a promotion): an empty PR.
      if (pull.merge_base === pull.head.sha) {
        return nothing(`nothing to promote: ${defaultBranch} already contains ${stagingBranch} (pull request #${pull.number} stays open for the next promotion)`);
      }

      try {
        await gitea.mergePull(owner, repoName, pull.number, { style: 'merge', headCommitId: pull.head.sha });
      } catch (err) {
        if (!(err instanceof GiteaError)) throw err;
        const mergedAnyway = (err.status === 405 || err.status === 409) && (await gitea.isMerged(owner, repoName, pull.number));
        if (!mergedAnyway) {
          const reason = await unmergeableReason(gitea, project, pull.number, err, defaultBranch);
          if (reason === null) throw err;
          // Once per staging head: a run after one that may have posted it (retried, or taken over from a worker that died) looks first.
          const mark = replyMark(`promotion=${pull.head.sha}`);
          const text = `Could not promote \`${stagingBranch}\` to \`${defaultBranch}\`: ${reason}. Resolve it and promote again.`;
          await deps.replies.postOnce(project, pull.number, text, mark, mayHaveRunBefore(job));
          return { status: 'conflicts', merged: [], conflicts: [{ prNumber: pull.number, reason }], skipped: [], revision: null, taskIds };
        }
      }

      const revision = (await gitea.getBranch(owner, repoName, defaultBranch))?.commit.id ?? null;
      if (project.argocdProductionApplication && revision) {
        syncJobId = await deps.jobs.syncEnvironment(project.id, 'production', revision, taskIds);
      }
      return { status: 'succeeded', merged: [{ prNumber: pull.number, taskIds }], conflicts: [], skipped: [], revision, taskIds };
    });
    return { ...outcome, prNumber, syncJobId };
  },
};
