import { RELAY_JOB } from '../src/webhooks/delivery-queue.js';
import type { JobDefinition, JobDeps } from './types.js';

type Deps = Pick<JobDeps, 'deliveryQueue'>;

/**
 * The relay of ingest's second stage: a batch of stored deliveries, named by the web process that
 * took them, becomes their delivery jobs (each under its delivery id, so a repeat adds nothing).
 * When Redis refuses them they are set back to `received`, and recovery queues them.
 */
export const webhookRelay: JobDefinition<{ deliveryIds: string[] }> = {
  queue: 'webhooks',
  name: RELAY_JOB,
  async process(job, deps: Deps) {
    const queued = await deps.deliveryQueue.enqueueMany(job.data.deliveryIds);
    return { deliveries: job.data.deliveryIds.length, queued };
  },
};
