import { UnrecoverableError } from 'bullmq';
import type { Deployment } from '../src/deployments/store.js';
import type { DeploymentOutcome } from '../src/deployments/service.js';
import { KubeApiError } from '../src/k8s/errors.js';
import type { Environment } from '../src/queue/scheduler.js';
import type { JobDefinition, JobDeps } from './types.js';
import type { Project } from '../src/projects/service.js';
import type { Logger } from '../src/log.js';
import { isLastAttempt } from '../src/queue/attempts.js';
import { loadProject } from './lib/project.js';

type Deps = Pick<JobDeps, 'cluster' | 'config' | 'deploymentService' | 'deployments' | 'gitea' | 'log' | 'tasks' | 'projects'>;

export interface EnvironmentSyncData {
  projectId: number;
  environment: Environment;
  /** The commit to sync to; null syncs the Application's target revision. */
  revision: string | null;
  taskIds: number[];
}

export type SyncStatus = DeploymentOutcome;

export interface EnvironmentSyncResult {
  status: SyncStatus | 'skipped';
  environment: Environment;
  application: string | null;
  deploymentId: number | null;
  url: string | null;
  note?: string;
}

/** ARGOCD_SYNC_TIMEOUT_SECONDS' default, for a cluster handed in without Kubernetes settings (tests). */
const DEFAULT_SYNC_TIMEOUT_MS = 600_000;
const KIND = 'sync';

/**
 * The task whose pull request's merge made `revision`, asked of Gitea (`GET …/commits/{sha}/pull`):
 * a sync queued by a push (a merge made in Gitea's UI) names it too. Naming is a courtesy, so
 * anything Gitea cannot answer leaves the list empty rather than holding the sync up.
 */
async function tasksMergedAt(deps: Deps, project: Project, revision: string | null, log: Logger): Promise<number[]> {
  if (!revision || !deps.gitea) return [];
  try {
    const pull = await deps.gitea.mergedPullOf(project.owner, project.repoName, revision);
    const task = pull && (await deps.tasks.findByPr(project.id, pull.number));
    return task ? [task.id] : [];
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'could not ask Gitea which pull request made this revision; the sync names no task');
    return [];
  }
}

/**
 * Syncs a project's Argo CD Application for staging or production (an `operation.sync` on the
 * Application) and follows it to its end, recording a deployment and publishing deploy:started and
 * deploy:completed. Without Kubernetes it records a dry-run and says so.
 */
export const environmentSync: JobDefinition<EnvironmentSyncData> = {
  queue: 'deploy',
  name: 'environment-sync',
  async process(job, deps: Deps): Promise<EnvironmentSyncResult> {
    const { projectId, environment, revision } = job.data;
    const log = deps.log.child({ jobId: job.id, projectId, environment, revision });
    const project = await loadProject(deps, projectId);
    const application = environment === 'staging' ? project.argocdApplication : project.argocdProductionApplication;
    if (!application) {
      const note = `no Argo CD application configured for ${environment}: nothing to sync`;
      log.info(note);
      return { status: 'skipped', environment, application: null, deploymentId: null, url: null, note };
    }

    const store = deps.deployments;
    const finish = async (deployment: Deployment, status: SyncStatus, url: string | null, error: string | null): Promise<EnvironmentSyncResult> => {
      await deps.deploymentService.completed(deployment, { status, url, error }, { actor: 'aiworker', reason: error });
      return { status, environment, application, deploymentId: deployment.id, url, ...(error ? { note: error } : {}) };
    };

    // A retry after a crash or a failed poll resumes its running deployment; a re-run (/retry) starts a new one.
    const earlier = await store.findByJob(job.id!, KIND);
    const resuming = earlier?.status === 'running';
    // The tasks a merge train or promotion landed; for a push-queued sync, those Gitea names.
    const taskIds = resuming ? [] : job.data.taskIds?.length ? job.data.taskIds : await tasksMergedAt(deps, project, revision, log);
    const deployment =
      resuming
        ? earlier
        : await deps.deploymentService.startNew(
            { projectId, taskId: null, environment, kind: KIND, commitSha: revision, taskIds, dryRun: !deps.cluster, jobId: job.id! },
            { actor: 'aiworker', reason: `sync ${application}` },
          );

    if (!deps.cluster) {
      log.info({ application }, `Kubernetes not configured: dry-run, ${environment} Application ${application} not synced`);
      return finish(deployment, 'dry-run', null, null);
    }

    let result;
    try {
      result = await deps.cluster.syncApplication({
        name: application,
        revision: revision ?? undefined,
        timeoutMs: deps.config.kube?.syncTimeoutMs ?? DEFAULT_SYNC_TIMEOUT_MS,
      });
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      const retryable = !(err instanceof KubeApiError) || err.retryable;
      if (retryable && !isLastAttempt(job)) {
        log.warn({ err: message, attempt: job.attemptsMade + 1 }, 'Argo CD sync request failed; retrying');
        throw err;
      }
      await finish(deployment, 'failed', null, message);
      throw new UnrecoverableError(message);
    }

    if (result.phase === 'Succeeded') {
      log.info({ application, revision: result.revision, url: result.url }, `${environment} sync succeeded`);
      return finish(deployment, 'succeeded', result.url, null);
    }
    const finished = result.phase === 'Failed' || result.phase === 'Error';
    const error = finished
      ? `Argo CD sync of ${application} ${result.phase}: ${result.message}`
      : `Argo CD sync of ${application} did not finish in time (phase ${result.phase}: ${result.message})`;
    log.warn({ application, phase: result.phase }, error);
    await finish(deployment, 'failed', result.url, error);
    // Recorded and published; failing the job lets `/retry` run it again, while a retry by itself would only repeat it.
    throw new UnrecoverableError(error);
  },
};
