import type { Job, JobsOptions } from 'bullmq';
import type { Logger } from '../log.js';
import { jobId, type QueueName, type Queues } from './queues.js';
import type { JobOutbox, OutboxEntry } from './outbox.js';

export type Environment = 'staging' | 'production';

/** What a preview-deploy job is given: the task, why, and when it was asked for. */
export interface PreviewDeployRequest {
  taskId: number;
  reason: string;
  /**
   * When the deploy was asked for. A deploy that follows a running one is created only when that
   * one ends, so its job timestamp says nothing about whether a teardown came after the request.
   */
  requestedAt?: number;
}

/** Deploy and merge jobs run up to this many times, waiting 2 s, 4 s, 8 s, 16 s between attempts. */
const ATTEMPTS = 5;
const BACKOFF_MS = 2000;
const kept = { removeOnComplete: { age: 24 * 3600, count: 1000 }, removeOnFail: { age: 7 * 24 * 3600, count: 1000 } } as const;

/**
 * The id of a job that may rightly be asked for again after an earlier one finished: its business
 * key, the time and a random part, since BullMQ drops an add whose id a kept finished job still has
 * (see jobId). The outbox records the request under this id, so recovery never doubles it.
 */
const requestJobId = (...key: Array<string | number>) => jobId(...key, Date.now(), Math.random().toString(36).slice(2, 8));

/**
 * Queues a job the outbox records; `added` is false when it joined a job already there. Joining a
 * waiting job settles the record (that job runs); a request kept to follow a running job
 * (keepLastIfActive) keeps its record until a later run serves it (JobOutbox.servedBy).
 */
export async function addRecorded(queues: Queues, outbox: JobOutbox, entry: OutboxEntry): Promise<{ jobId: string; added: boolean }> {
  const job = await queues.add(entry.queue, entry.name, entry.data, { ...entry.opts, jobId: entry.jobId });
  if (!job.id || job.id === entry.jobId) return { jobId: entry.jobId, added: true };
  if (entry.opts.deduplication?.keepLastIfActive) return { jobId: entry.jobId, added: false };
  await outbox.done(entry.jobId);
  return { jobId: job.id, added: false };
}

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
    opts: { backoffMs?: number } = {},
  ) {
    this.retried = { attempts: ATTEMPTS, backoff: { type: 'exponential', delay: opts.backoffMs ?? BACKOFF_MS } };
  }

  /**
   * Durable first, then queued. A job deduplicated into one still waiting needs no record of its own;
   * one kept to follow a running job (keepLastIfActive) keeps its record until it has run itself.
   */
  private async enqueue(queue: QueueName, name: string, data: object, opts: JobsOptions & { jobId: string }): Promise<string> {
    const entry: OutboxEntry = { jobId: opts.jobId, queue, name, data, opts };
    await this.outbox.record(entry);
    try {
      return (await addRecorded(this.queues, this.outbox, entry)).jobId;
    } catch (err) {
      this.log.warn({ err: (err as Error).message, queue, name, jobId: opts.jobId }, 'job recorded but not queued; recovery queues it when Redis is back');
      return opts.jobId;
    }
  }

  /**
   * A preview deploy starts at once. Requests made while one is waiting join it (it deploys the head
   * it reads when it runs); requests made while one is running become a single deploy that follows
   * it, holding the latest request. So a burst of pushes deploys at most twice, the last time the
   * newest head.
   */
  async deployPreview(taskId: number, reason: string): Promise<string> {
    const data: PreviewDeployRequest = { taskId, reason, requestedAt: Date.now() };
    return this.enqueue('deploy', 'preview-deploy', data, {
      jobId: requestJobId('preview', taskId),
      deduplication: { id: jobId('preview', taskId), keepLastIfActive: true },
      ...this.retried,
      ...kept,
    });
  }

  async teardownPreview(taskId: number, reason: string): Promise<string> {
    return this.enqueue('deploy', 'preview-teardown', { taskId, reason }, { jobId: requestJobId('teardown', taskId), ...this.retried, ...kept });
  }

  async syncEnvironment(projectId: number, environment: Environment, revision: string | null, taskIds: number[] = []): Promise<string> {
    return this.enqueue(
      'deploy',
      'environment-sync',
      { projectId, environment, revision, taskIds },
      // One revision is one sync (the push Gitea sends for a train's merge joins the train's own).
      { jobId: revision ? jobId('sync', projectId, environment, revision) : requestJobId('sync', projectId, environment), ...this.retried, ...kept },
    );
  }

  async mergeTrain(projectId: number, taskIds: number[], requestedBy: string): Promise<string> {
    return this.enqueue(
      'merge',
      'staging-merge',
      { projectId, taskIds, requestedBy },
      { jobId: requestJobId('merge', projectId), ...this.retried, ...kept },
    );
  }

  async promote(projectId: number, requestedBy: string): Promise<string> {
    return this.enqueue(
      'merge',
      'promotion',
      { projectId, requestedBy },
      { jobId: requestJobId('promote', projectId), ...this.retried, ...kept },
    );
  }

  /**
   * Fetches a review's line comments into its stored feedback, retried with backoff: the feedback
   * and the state change are recorded already, so a Gitea that answers 404 or 500 for now loses nothing.
   */
  async fetchReviewComments(feedbackId: number, data: { projectId: number; prNumber: number; reviewer: string; state: 'REQUEST_CHANGES' | 'COMMENT' }): Promise<string> {
    return this.enqueue('tasks', 'review-comments', { feedbackId, ...data }, { jobId: jobId('review-comments', feedbackId), ...this.retried, ...kept });
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
