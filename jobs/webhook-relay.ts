import { RELAY_JOB, type RelayedDelivery } from '../src/webhooks/delivery-queue.js';
import type { JobDefinition, JobDeps } from './types.js';

type Deps = Pick<JobDeps, 'deliveryQueue'>;

/**
 * The relay of ingest's second stage: a batch of stored deliveries, named by the web process that
 * took them, becomes their delivery jobs (each under its delivery id, so a repeat adds nothing,
 * and with its ordering key, so a job whose key is held ends without reading its delivery).
 * When Redis refuses them they are set back to `received`, and recovery queues them.
 */
export const webhookRelay: JobDefinition<{ deliveries: RelayedDelivery[] }> = {
  queue: 'webhooks',
  name: RELAY_JOB,
  async process(job, deps: Deps) {
    const queued = await deps.deliveryQueue.enqueueMany(job.data.deliveries);
    return { deliveries: job.data.deliveries.length, queued };
  },
};
