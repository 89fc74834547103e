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

/** BullMQ job ids may not contain ':'; ids are built from business keys so enqueueing is idempotent. */
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
