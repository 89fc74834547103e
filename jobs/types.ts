import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { QueueName } from '../src/queue/queues.js';
import type { DeliveryStore } from '../src/webhooks/deliveries.js';
import type { HandlerDeps } from '../handlers/types.js';

/** What job processors may use; built once in src/main.ts. */
export interface JobDeps extends HandlerDeps {
  deliveries: DeliveryStore;
  redis: Redis;
  redisPrefix: string;
}

export interface JobDefinition<D = Record<string, unknown>> {
  queue: QueueName;
  /** The BullMQ job name this processor runs. */
  name: string;
  process(job: Job<D>, deps: JobDeps, token?: string): Promise<unknown>;
}
