import { Queue, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { withTimeout } from '../timeout.js';

export const QUEUE_NAMES = ['webhooks', 'deploy', 'merge', 'cleanup', 'tasks'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export interface QueueOptions {
  redisUrl: string;
  prefix: string;
}

export const bullPrefix = (prefix: string) => `${prefix}:bull`;

/**
 * A BullMQ job id (no ':' allowed) from its parts. Where a repeated request is the same work, the
 * parts are its business key and a repeat joins the job already there: a delivery's job, a sync of
 * one revision, one review's line comments, one announcement per backlog event. A teardown, a merge
 * train, a promotion, a preview deploy and a sync of no known revision may rightly be asked for again
 * once an earlier one has finished, so JobScheduler adds the time (and a random part where two
 * requests in one millisecond may differ) to their key: BullMQ keeps finished jobs for a day and
 * silently drops an add whose id it still keeps. For those, repeats are harmless because the job is
 * recorded in the MySQL outbox under its id once (recovery queues it again under that id), the
 * processor re-reads state and converges, and preview deploys share a deduplication id (the task).
 */
export const jobId = (...parts: Array<string | number>) => parts.map((p) => String(p).replace(/[^A-Za-z0-9_.-]/g, '_')).join('-');

/**
 * Producers for every queue. Their connection does not queue commands while Redis is away, so an
 * add fails fast and the caller keeps the work pending in MySQL instead of hanging.
 */
export class Queues {
  readonly connection: Redis;
  private readonly queues = new Map<QueueName, Queue>();

  constructor(private readonly opts: QueueOptions) {
    this.connection = new Redis(opts.redisUrl, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 3000,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    this.connection.on('error', () => {
      // Reported by /readyz and by the failing adds; ioredis reconnects by itself.
    });
  }

  get(name: QueueName): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: bullPrefix(this.opts.prefix) });
      q.on('error', () => {});
      this.queues.set(name, q);
    }
    return q;
  }

  async add(name: QueueName, jobName: string, data: object, opts: JobsOptions, timeoutMs = 2000) {
    return withTimeout(this.get(name).add(jobName, data, opts), timeoutMs, `queue ${name} (Redis)`);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    this.connection.disconnect();
  }
}
