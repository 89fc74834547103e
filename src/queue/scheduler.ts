import type { Job } from 'bullmq';
import { jobId, type QueueName, type Queues } from './queues.js';

export type Environment = 'staging' | 'production';

const retried = { attempts: 5, backoff: { type: 'exponential', delay: 2000 } } as const;
const kept = { removeOnComplete: { age: 24 * 3600, count: 1000 }, removeOnFail: { age: 7 * 24 * 3600, count: 1000 } } as const;

/** Debounce window: pushes that arrive within it become one deploy of the latest head. */
export const PREVIEW_DEBOUNCE_MS = 1500;

/**
 * Queues every job aiworker runs. Job data holds ids only; processors re-read state, so a late or
 * repeated job converges instead of acting on a stale picture.
 */
export class JobScheduler {
  constructor(private readonly queues: Queues, private readonly opts: { previewDebounceMs?: number } = {}) {}

  async deployPreview(taskId: number, reason: string): Promise<string> {
    const debounce = this.opts.previewDebounceMs ?? PREVIEW_DEBOUNCE_MS;
    const id = jobId('preview', taskId, Date.now());
    const job = await this.queues.add('deploy', 'preview-deploy', { taskId, reason }, {
      jobId: id,
      delay: debounce,
      deduplication: { id: jobId('preview', taskId), ttl: debounce },
      ...retried,
      ...kept,
    });
    return job.id ?? id;
  }

  async teardownPreview(taskId: number, reason: string): Promise<string> {
    const job = await this.queues.add('deploy', 'preview-teardown', { taskId, reason }, { jobId: jobId('teardown', taskId, Date.now()), ...retried, ...kept });
    return job.id!;
  }

  async syncEnvironment(projectId: number, environment: Environment, revision: string | null, taskIds: number[] = []): Promise<string> {
    const job = await this.queues.add(
      'deploy',
      'environment-sync',
      { projectId, environment, revision, taskIds },
      { jobId: jobId('sync', projectId, environment, revision ?? Date.now()), ...retried, ...kept },
    );
    return job.id!;
  }

  async mergeTrain(projectId: number, taskIds: number[], requestedBy: string): Promise<string> {
    const job = await this.queues.add(
      'merge',
      'staging-merge',
      { projectId, taskIds, requestedBy },
      { jobId: jobId('merge', projectId, Date.now(), Math.random().toString(36).slice(2, 8)), ...retried, ...kept },
    );
    return job.id!;
  }

  async promote(projectId: number, requestedBy: string): Promise<string> {
    const job = await this.queues.add(
      'merge',
      'promotion',
      { projectId, requestedBy },
      { jobId: jobId('promote', projectId, Date.now()), ...retried, ...kept },
    );
    return job.id!;
  }

  async announceTask(taskId: number): Promise<void> {
    await this.queues.add('tasks', 'task-waiting', { taskId }, { jobId: jobId('announce', taskId), ...kept });
  }

  /** The most recent failed deploy or merge job about this task, retried; null when there is none. */
  async retryLastFailed(taskId: number): Promise<Job | null> {
    const candidates: Job[] = [];
    for (const name of ['deploy', 'merge'] as QueueName[]) {
      const failed = await this.queues.get(name).getFailed(0, 200);
      candidates.push(
        ...failed.filter((j) => j.data?.taskId === taskId || (Array.isArray(j.data?.taskIds) && j.data.taskIds.includes(taskId))),
      );
    }
    const latest = candidates.sort((a, b) => (b.finishedOn ?? 0) - (a.finishedOn ?? 0))[0];
    if (!latest) return null;
    await latest.retry('failed');
    return latest;
  }
}
