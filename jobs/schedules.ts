import type { Config } from '../src/config.js';
import type { Logger } from '../src/log.js';
import type { Queues } from '../src/queue/queues.js';
import { scheduleAgentLiveness } from './agent-liveness.js';
import { scheduleDeliveryPruning } from './delivery-pruning.js';
import { schedulePreviewCleanup } from './preview-cleanup.js';

/** Repeatable jobs live in Redis; every worker start (re)creates them, idempotently. */
export async function scheduleRepeatables(queues: Queues, config: Config, log: Logger): Promise<void> {
  await schedulePreviewCleanup(queues, 5 * 60_000).catch((err) =>
    log.warn({ err: (err as Error).message }, 'preview cleanup not scheduled; it is scheduled at the next worker start'),
  );
  await scheduleAgentLiveness(queues, config.agentTimeoutMs).catch((err) =>
    log.warn({ err: (err as Error).message }, 'agent liveness sweep not scheduled; it is scheduled at the next worker start'),
  );
  await scheduleDeliveryPruning(queues).catch((err) =>
    log.warn({ err: (err as Error).message }, 'delivery pruning not scheduled; it is scheduled at the next worker start'),
  );
}
