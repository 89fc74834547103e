import { DelayedError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { bullPrefix, type QueueName } from './queues.js';
import type { JobDefinition, JobDeps } from '../../jobs/types.js';
import { isLastAttempt } from './attempts.js';

export interface WorkerOptions {
  redisUrl: string;
  prefix: string;
  concurrency: Partial<Record<QueueName, number>>;
  /**
   * A worker holds each job with a lock it renews every half of this; when the worker dies, the
   * lock lapses and another worker's stalled-job check (run as often) takes the job again.
   * Default 30 s, BullMQ's own.
   */
  lockMs?: number;
}

const DEFAULT_LOCK_MS = 30_000;

/** One BullMQ Worker per queue, dispatching each job by name to the processor registered for it. */
export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly connections: Redis[] = [];
  /** Aborted when close() begins: jobs that loop (a key's drain) stop at their next step and hand on. */
  private readonly stopping = new AbortController();

  constructor(
    private readonly definitions: readonly JobDefinition<never>[],
    private readonly deps: JobDeps,
    private readonly opts: WorkerOptions,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  start(): void {
    const byQueue = new Map<QueueName, Map<string, JobDefinition<never>>>();
    for (const def of this.definitions) {
      if (!byQueue.has(def.queue)) byQueue.set(def.queue, new Map());
      const names = byQueue.get(def.queue)!;
      if (names.has(def.name)) throw new Error(`two processors for ${def.queue}/${def.name}`);
      names.set(def.name, def);
    }
    for (const [queue, processors] of byQueue) {
      // Workers block on Redis, so their connection must retry forever (BullMQ's requirement).
      const connection = new Redis(this.opts.redisUrl, { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(n * 200, 2000) });
      connection.on('error', () => {});
      this.connections.push(connection);
      const worker = new Worker(
        queue,
        async (job: Job, token?: string) => {
          const def = processors.get(job.name);
          if (!def) throw new Error(`no processor for job ${job.name} on queue ${queue}`);
          const end = this.metrics.jobDuration.startTimer({ queue });
          try {
            const result = await def.process(job as Job<never>, this.deps, token, this.stopping.signal);
            this.metrics.jobs.inc({ queue, name: job.name, outcome: 'completed' });
            await this.settled(queue, job);
            return result;
          } catch (err) {
            if (!(err instanceof DelayedError)) {
              this.metrics.jobs.inc({ queue, name: job.name, outcome: 'failed' });
              if (isLastAttempt(job, err)) await this.settled(queue, job);
            }
            throw err;
          } finally {
            end();
          }
        },
        {
          connection,
          prefix: bullPrefix(this.opts.prefix),
          concurrency: this.opts.concurrency[queue] ?? 1,
          autorun: true,
          lockDuration: this.opts.lockMs ?? DEFAULT_LOCK_MS,
          stalledInterval: this.opts.lockMs ?? DEFAULT_LOCK_MS,
        },
      );
      worker.on('failed', (job, err) => {
        this.log.warn({ queue, job: job?.name, jobId: job?.id, attempts: job?.attemptsMade, err: err.message }, 'job failed');
      });
      worker.on('error', (err) => this.log.debug({ queue, err: err.message }, 'worker connection error'));
      this.workers.push(worker);
    }
  }

  /** A job that will not run again leaves the outbox (webhook jobs are tracked by their deliveries instead). */
  private async settled(queue: QueueName, job: Job): Promise<void> {
    if (queue === 'webhooks' || !job.id) return;
    await this.deps.outbox.done(job.id).catch((err) => this.log.warn({ err: (err as Error).message, jobId: job.id }, 'outbox not updated; recovery will look at the job again'));
  }

  /** Stops taking jobs and waits for the ones in hand to finish. */
  async close(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled(this.workers.map((w) => w.close()));
    for (const c of this.connections) c.disconnect();
  }
}
