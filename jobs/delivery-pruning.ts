import type { Queues } from '../src/queue/queues.js';
import type { JobDefinition, JobDeps } from './types.js';
import { SessionStore } from '../src/access/sessions.js';

type Deps = Pick<JobDeps, 'config' | 'db' | 'deliveries' | 'log'>;

export const DELIVERY_PRUNING = 'delivery-pruning';
const EVERY_MS = 3600_000;

/** Hourly (and once right away); upserting keeps one schedule however many workers start. */
export async function scheduleDeliveryPruning(queues: Queues): Promise<void> {
  await queues.get('cleanup').upsertJobScheduler(
    DELIVERY_PRUNING,
    { every: EVERY_MS },
    { name: DELIVERY_PRUNING, data: {}, opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
  );
}

/**
 * Deletes deliveries that ended (processed, ignored or failed) more than DELIVERY_RETENTION_DAYS
 * ago, with the command replies kept for them. Pending deliveries are never touched. Expired
 * console sessions and sign-ins are deleted too.
 */
export const deliveryPruning: JobDefinition<Record<string, never>> = {
  queue: 'cleanup',
  name: DELIVERY_PRUNING,
  async process(job, deps: Deps) {
    const cutoff = new Date(Date.now() - deps.config.deliveryRetentionDays * 86_400_000);
    const deleted = await deps.deliveries.pruneFinished(cutoff);
    if (deleted) deps.log.info({ job: job.name, deleted, before: cutoff.toISOString() }, 'old webhook deliveries deleted');
    // The same hourly sweep ends the rows of expired console sessions and abandoned sign-ins (already refused when presented).
    const sessions = await new SessionStore(deps.db).prune();
    return { deleted, before: cutoff.toISOString(), sessions };
  },
};
