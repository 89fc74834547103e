import { UnrecoverableError } from 'bullmq';
import { isHandledEventType, type HandledEventType } from '../../src/gitea/events.js';
import { parsePayload } from '../../src/gitea/payloads.js';
import { TransitionError } from '../../src/errors.js';
import { handlerFor } from '../../handlers/index.js';
import type { HandlerDeps, HandlerResult, WebhookContext } from '../../handlers/types.js';
import { WEBHOOK_JOB_ATTEMPTS, WEBHOOK_RETRY_BASE_MS } from '../../src/webhooks/delivery-queue.js';
import type { DeliveryEnd, DeliveryRow, FinishedStatus } from '../../src/webhooks/deliveries.js';
import type { JobDeps } from '../types.js';

/** Its own needs, and what the handlers it runs need. */
export type DeliveryDeps = HandlerDeps & Pick<JobDeps, 'deliveries' | 'log' | 'metrics' | 'projects' | 'redis' | 'redisPrefix'>;

/** A delivery's run ended it (processed, ignored or failed for good), or it runs again at `retryAt`. */
export type Handled = { ended: true } | { ended: false; retryAt: Date };

/**
 * Runs the handler of one stored delivery and records how it ended. A failed run is counted in
 * MySQL, so whichever worker runs the delivery next waits out the same backoff (1 s, doubling) and
 * the delivery fails for good after the same number of runs, however its runs were scheduled.
 * How it ended goes to `record`: written at once, or with the ends of the deliveries after it.
 */
export async function handleDelivery(deps: DeliveryDeps, d: DeliveryRow, record: (end: DeliveryEnd) => Promise<void>): Promise<Handled> {
  const deliveryId = d.delivery_id;
  const log = deps.log.child({ deliveryId, eventType: d.event_type, action: d.action });
  const settle = async (status: FinishedStatus, note: string | null) => {
    await record({ id: deliveryId, status, note, at: new Date() });
    deps.metrics.deliveriesHandled.inc({ event_type: d.event_type, status });
  };
  try {
    const eventType = d.event_type;
    const project = d.repository ? await deps.projects.findByRepo(d.repository) : null;
    const handled = isHandledEventType(eventType) && handlerFor(eventType) !== undefined;
    if (!handled || !project) {
      const note = !handled ? `no handler for ${eventType}` : `repository ${d.repository ?? '(none)'} is not an aiworker project`;
      await settle('ignored', note);
      return { ended: true };
    }
    let result: HandlerResult;
    try {
      result = await handle(eventType, { id: deliveryId, event: d.event, action: d.action, project, log }, d.payload, deps);
    } catch (err) {
      // A refused transition is a fact about the task, not a fault: retrying cannot change it.
      if (!(err instanceof TransitionError)) throw err;
      result = { status: 'ignored' as const, note: err.message };
    }
    await settle(result.status, result.status === 'ignored' ? (result.note ?? null) : null);
    log.info({ status: result.status, note: result.note }, 'delivery handled');
    return { ended: true };
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    const run = d.failed_runs + 1;
    if (err instanceof UnrecoverableError || run >= WEBHOOK_JOB_ATTEMPTS) {
      await settle('failed', message);
      log.warn({ err, run, last: true }, 'delivery handler failed');
      return { ended: true };
    }
    const retryAt = new Date(Date.now() + WEBHOOK_RETRY_BASE_MS * 2 ** (run - 1));
    await deps.deliveries.recordError(deliveryId, message, retryAt);
    log.warn({ err, run, last: false, retryAt }, 'delivery handler failed');
    return { ended: false, retryAt };
  }
}

/** Checks the payload against its event type's schema and runs that type's handler with it. */
async function handle<E extends HandledEventType>(
  eventType: E,
  delivery: Omit<WebhookContext<E>, 'eventType' | 'payload'>,
  payload: string,
  deps: DeliveryDeps,
): Promise<HandlerResult> {
  const parsed = parsePayload(eventType, JSON.parse(payload));
  // A payload of another shape fails the same way on every attempt: fail it now, saying what is wrong.
  if (!parsed.ok) throw new UnrecoverableError(`malformed ${eventType} payload: ${parsed.problem}`);
  const handler = handlerFor(eventType);
  if (!handler) throw new UnrecoverableError(`no handler for ${eventType}`);
  return handler.handle({ ...delivery, eventType, payload: parsed.payload }, deps);
}
