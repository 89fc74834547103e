import { UnrecoverableError, type Job } from 'bullmq';
import { KubeApiError } from '../src/k8s/errors.js';
import { previewNamespaceName } from '../src/k8s/manifests.js';
import type { Logger } from '../src/log.js';
import { lockKeys, whileHolding } from '../src/queue/lock.js';
import type { JobDefinition, JobDeps } from './types.js';
import { isLastAttempt } from '../src/queue/attempts.js';

type Deps = Pick<JobDeps, 'cluster' | 'log' | 'redis' | 'redisPrefix' | 'tasks' | 'deployments'>;

export interface PreviewTeardownData {
  taskId: number;
  reason: string;
}


async function teardown(job: Job<PreviewTeardownData>, deps: Deps, log: Logger) {
  const { taskId } = job.data;
  const namespace = previewNamespaceName(taskId);
  const dryRun = deps.cluster === null;
  const task = await deps.tasks.find(taskId);
  const { deployments } = deps;
  // A vanished task has no project to file the record under; its namespace still goes.
  const existing = task ? await deployments.findByJob(job.id!, 'teardown') : null;
  const record = task
    ? (existing ??
      (await deployments.create({
        projectId: task.projectId,
        taskId,
        environment: 'preview',
        kind: 'teardown',
        status: 'running',
        url: task.previewUrl,
        taskIds: [taskId],
        dryRun,
        jobId: job.id,
        requestedAt: new Date(job.timestamp),
      })))
    : null;

  let existed: boolean | null = null;
  if (deps.cluster) {
    try {
      existed = await deps.cluster.deleteNamespace(namespace);
    } catch (err) {
      const message = (err as Error).message;
      const retryable = err instanceof KubeApiError && err.retryable;
      const attempt = job.attemptsMade + 1;
      const attempts = job.opts.attempts ?? 1;
      if (retryable && !isLastAttempt(job)) {
        log.warn({ err: message, attempt, attempts }, 'preview teardown failed; it will be retried');
        if (record) await deployments.update(record.id, { error: `attempt ${attempt} of ${attempts} failed: ${message}` });
        throw err;
      }
      log.error({ err: message, attempt, attempts }, 'preview teardown failed');
      if (record) await deployments.update(record.id, { status: 'failed', error: message, finishedAt: new Date() });
      throw retryable ? err : new UnrecoverableError(message);
    }
  } else {
    log.info({ namespace }, 'dry-run: no Kubernetes cluster configured, preview namespace not deleted (nothing was deployed)');
  }
  if (task) await deps.tasks.previewGone(taskId);
  if (record) await deployments.update(record.id, { status: 'succeeded', error: null, finishedAt: new Date() });
  log.info({ namespace, existed, dryRun }, 'preview torn down');
  return { status: dryRun ? 'dry-run' : 'succeeded', namespace, existed, deploymentId: record?.id ?? null };
}

export const previewTeardown: JobDefinition<PreviewTeardownData> = {
  queue: 'deploy',
  name: 'preview-teardown',
  async process(job, deps: Deps, token) {
    const log = deps.log.child({ job: job.name, jobId: job.id, taskId: job.data.taskId, reason: job.data.reason });
    return whileHolding(job, token, deps.redis, lockKeys.preview(deps.redisPrefix, job.data.taskId), () => teardown(job, deps, log));
  },
};
