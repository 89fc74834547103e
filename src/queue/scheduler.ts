import type { Job, JobsOptions } from 'bullmq';
import type { Logger } from '../log.js';
import { jobId, type QueueName, type Queues } from './queues.js';
import type { JobOutbox } from './outbox.js';

export type Environment = 'staging' | 'production';

/** Deploy and merge jobs run up to this many times, waiting 2 s, 4 s, 8 s, 16 s between attempts. */
const ATTEMPTS = 5;
const BACKOFF_MS = 2000;
const kept = { removeOnComplete: { age: 24 * 3600, count: 1000 }, removeOnFail: { age: 7 * 24 * 3600, count: 1000 } } as const;

/** Debounce window: pushes that arrive within it become one deploy of the latest head. */
export const PREVIEW_DEBOUNCE_MS = 1500;

/**
 * Queues every job aiworker runs. Job data holds ids only; processors re-read state, so a late or
 * repeated job converges instead of acting on a stale picture. Deploy and merge jobs are written to
 * the MySQL outbox first: once that returns, the job will run, even if Redis is away right now.
 */
export class JobScheduler {
  private readonly retried: { attempts: number; backoff: { type: 'exponential'; delay: number } };

  /** `backoffMs`: the first wait between attempts (doubling after each); tests shorten it. */
  constructor(
    private readonly queues: Queues,
    private readonly outbox: JobOutbox,
    private readonly log: Logger,
    private readonly opts: { previewDebounceMs?: number; backoffMs?: number } = {},
  ) {
    this.retried = { attempts: ATTEMPTS, backoff: { type: 'exponential', delay: opts.backoffMs ?? BACKOFF_MS } };
  }

  /** Durable first, then queued; a job deduplicated into one already waiting needs no record of its own. */
  private async enqueue(queue: QueueName, name: string, data: object, opts: JobsOptions & { jobId: string }): Promise<string> {
    await this.outbox.record({ jobId: opts.jobId, queue, name, data, opts });
    try {
      const job = await this.queues.add(queue, name, data, opts);
      if (job.id && job.id !== opts.jobId) await this.outbox.done(opts.jobId);
      return job.id ?? opts.jobId;
    } catch (err) {
      this.log.warn({ err: (err as Error).message, queue, name, jobId: opts.jobId }, 'job recorded but not queued; recovery queues it when Redis is back');
      return opts.jobId;
    }
  }

  async deployPreview(taskId: number, reason: string): Promise<string> {
    const debounce = this.opts.previewDebounceMs ?? PREVIEW_DEBOUNCE_MS;
    return this.enqueue('deploy', 'preview-deploy', { taskId, reason }, {
      jobId: jobId('preview', taskId, Date.now()),
      delay: debounce,
      deduplication: { id: jobId('preview', taskId), ttl: debounce },
      ...this.retried,
      ...kept,
    });
  }

  async teardownPreview(taskId: number, reason: string): Promise<string> {
    return this.enqueue('deploy', 'preview-teardown', { taskId, reason }, { jobId: jobId('teardown', taskId, Date.now()), ...this.retried, ...kept });
  }

  async syncEnvironment(projectId: number, environment: Environment, revision: string | null, taskIds: number[] = []): Promise<string> {
    return this.enqueue(
      'deploy',
      'environment-sync',
      { projectId, environment, revision, taskIds },
      { jobId: jobId('sync', projectId, environment, revision ?? Date.now()), ...this.retried, ...kept },
    );
  }

  async mergeTrain(projectId: number, taskIds: number[], requestedBy: string): Promise<string> {
    return this.enqueue(
      'merge',
      'staging-merge',
      { projectId, taskIds, requestedBy },
      { jobId: jobId('merge', projectId, Date.now(), Math.random().toString(36).slice(2, 8)), ...this.retried, ...kept },
    );
  }

  async promote(projectId: number, requestedBy: string): Promise<string> {
    return this.enqueue(
      'merge',
      'promotion',
      { projectId, requestedBy },
      { jobId: jobId('promote', projectId, Date.now()), ...this.retried, ...kept },
    );
  }

  /** One announcement per event that put the task in the backlog (a task may return there). */
  async announceTask(taskId: number, eventId: number): Promise<void> {
    await this.queues.add('tasks', 'task-waiting', { taskId }, { jobId: jobId('announce', taskId, eventId), ...kept });
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
    await this.outbox.reopen(latest.id!);
    await latest.retry('failed');
    return latest;
  }
}
