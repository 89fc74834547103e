import { Job, type JobJson, type JobsOptions, type Queue } from 'bullmq';
import { Coalescer } from '../coalescer.js';
import { withTimeout } from '../timeout.js';
import type { Queues } from '../queue/queues.js';
import type { Logger } from '../log.js';
import type { DeliveryStore } from './deliveries.js';

/** Runs of a delivery's handler before it fails for good; the wait before a retry starts at WEBHOOK_RETRY_BASE_MS, doubling. */
export const WEBHOOK_JOB_ATTEMPTS = 5;
export const WEBHOOK_RETRY_BASE_MS = 1000;

const ADD_TIMEOUT_MS = 2000;

const JOB_NAME = 'delivery';
/** A delivery's job: its id, and its ordering key when the relay knew it (then the job needs no read to find its key held). */
export interface DeliveryJobData {
  deliveryId: string;
  orderingKey?: string;
}

/** A delivery the relay is given: its id, and its ordering key (null: none). */
export interface RelayedDelivery {
  id: string;
  orderingKey: string | null;
}

/** The job that turns a batch of stored deliveries into their delivery jobs (jobs/webhook-relay.ts). */
export const RELAY_JOB = 'relay';
const RELAY_OPTIONS: JobsOptions = {
  attempts: WEBHOOK_JOB_ATTEMPTS,
  backoff: { type: 'exponential', delay: WEBHOOK_RETRY_BASE_MS },
  removeOnComplete: true,
  removeOnFail: { age: 24 * 3600 },
};
const JOB_OPTIONS: JobsOptions = {
  attempts: WEBHOOK_JOB_ATTEMPTS,
  backoff: { type: 'exponential', delay: WEBHOOK_RETRY_BASE_MS },
  removeOnComplete: { age: 3600, count: 10000 },
  removeOnFail: { age: 24 * 3600 },
};

/**
 * The job of one delivery, as BullMQ's own Job class would describe it: built once through that
 * class (so its option defaults and normalising apply), then copied per delivery. Building a Job
 * object per delivery was a third of ingest's queueing time.
 */
function deliveryJobs(queue: Queue): (delivery: RelayedDelivery, timestamp: number) => JobJson {
  const template = new Job(queue, JOB_NAME, { deliveryId: '' }, { ...JOB_OPTIONS, jobId: 'template' }, 'template').asJSON();
  return ({ id, orderingKey }, timestamp) => ({
    ...template,
    id,
    data: JSON.stringify(orderingKey ? ({ deliveryId: id, orderingKey } satisfies DeliveryJobData) : ({ deliveryId: id } satisfies DeliveryJobData)),
    opts: { ...template.opts, jobId: id },
    timestamp,
  });
}

/**
 * Puts stored deliveries on the `webhooks` queue; the delivery id is the job id, so a repeat is a
 * no-op. New deliveries are stored as `queued` (no second write on the hot path) and set back to
 * `received` only when Redis refuses them; a process dying in between leaves a `queued` row with
 * no job, which recovery finds and queues.
 */
export class DeliveryQueue {
  /** Ingest's second stage: the deliveries stored while the last relay job was being added share the next one. */
  private readonly relays: Coalescer<RelayedDelivery, boolean>;
  /** Replays and recovery: deliveries queued together share one round trip. */
  private readonly adds: Coalescer<string, boolean>;
  private jobOf?: (delivery: RelayedDelivery, timestamp: number) => JobJson;

  constructor(private readonly deps: { queues: Queues; deliveries: DeliveryStore; log: Logger }) {
    const batches = { maxInFlight: 1, maxBatch: 200 };
    this.relays = new Coalescer(async (deliveries) => {
      const queued = await this.relayMany(deliveries);
      return deliveries.map(() => queued);
    }, batches);
    this.adds = new Coalescer(async (ids) => {
      const queued = await this.enqueueMany(ids);
      return ids.map(() => queued);
    }, batches);
  }

  /** Queues a delivery's job; true when queued, false when Redis is unreachable (the delivery is `received`, for recovery). */
  enqueue(deliveryId: string): Promise<boolean> {
    return this.adds.submit(deliveryId);
  }

  /**
   * Hands a stored delivery to the relay: a `relay` job (jobs/webhook-relay.ts) names the
   * deliveries stored together, and a worker queues their jobs. The web process that took them
   * then pays one small Redis write per batch instead of a job per delivery. True when the relay
   * job was added; false when Redis is unreachable (the delivery is `received`, for recovery).
   */
  relay(delivery: RelayedDelivery): Promise<boolean> {
    return this.relays.submit(delivery);
  }

  private async relayMany(deliveries: RelayedDelivery[]): Promise<boolean> {
    try {
      const queue = this.deps.queues.get('webhooks');
      // Named after its first delivery, which no other relay job carries (a delivery is stored once).
      const job = queue.add(RELAY_JOB, { deliveries }, { ...RELAY_OPTIONS, jobId: `relay-${deliveries[0].id}` });
      await withTimeout(job, ADD_TIMEOUT_MS, 'queue webhooks (Redis)');
      return true;
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message, count: deliveries.length }, 'deliveries stored but not queued; recovery will queue them');
      await this.deps.deliveries.markReceived(deliveries.map((d) => d.id)).catch(() => undefined);
      return false;
    }
  }

  /**
   * Queues deliveries in one Redis round trip. False when Redis refused them: they are then set
   * back to `received`, and recovery queues them once Redis is back.
   */
  async enqueueMany(ids: Array<string | RelayedDelivery>): Promise<boolean> {
    if (!ids.length) return true;
    const deliveries = ids.map((d) => (typeof d === 'string' ? { id: d, orderingKey: null } : d));
    try {
      const queue = this.deps.queues.get('webhooks');
      this.jobOf ??= deliveryJobs(queue);
      const now = Date.now();
      await withTimeout(
        queue.backend.addJobs(deliveries.map((d) => ({ jobId: d.id, job: this.jobOf!(d, now) }))),
        ADD_TIMEOUT_MS,
        'queue webhooks (Redis)',
      );
      return true;
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message, count: ids.length }, 'deliveries stored but not queued; recovery will queue them');
      await this.deps.deliveries.markReceived(deliveries.map((d) => d.id)).catch(() => undefined);
      return false;
    }
  }
}

/** Queues a delivery again even if an earlier job for it is still kept as completed or failed. */
export async function requeueDelivery(
  queues: Queues,
  queue: DeliveryQueue,
  deliveries: DeliveryStore,
  deliveryId: string,
): Promise<'queued' | 'already queued' | 'not queued'> {
  const job = await queues.get('webhooks').getJob(deliveryId);
  if (job) {
    const state = await job.getState();
    if (state === 'active' || state === 'waiting' || state === 'delayed' || state === 'prioritized') {
      // Its job is still there (a long backlog): look again only after another full wait.
      await deliveries.markQueued([deliveryId]);
      return 'already queued';
    }
    await job.remove();
  }
  if (!(await queue.enqueue(deliveryId))) return 'not queued';
  await deliveries.markQueued([deliveryId]);
  return 'queued';
}
