import { UnrecoverableError } from 'bullmq';
import { acquireLock, jobOwner, lockKeys, waitTurn, type HeldLock } from '../src/queue/lock.js';
import { isHandledEventType, type HandledEventType } from '../src/gitea/events.js';
import { parsePayload } from '../src/gitea/payloads.js';
import { TransitionError } from '../src/errors.js';
import { handlerFor } from '../handlers/index.js';
import type { HandlerDeps, HandlerResult, WebhookContext } from '../handlers/types.js';
import type { DeliveryRow } from '../src/webhooks/deliveries.js';
import type { JobDefinition, JobDeps } from './types.js';
import { isLastAttempt } from '../src/queue/attempts.js';

/** Its own needs, and what the handlers it runs need. */
type DeliveryDeps = HandlerDeps & Pick<JobDeps, 'deliveries' | 'log' | 'metrics' | 'projects' | 'queues' | 'redis' | 'redisPrefix'>;

const WAIT_MS = 250;
const MAX_WAIT_MS = 10_000;

/**
 * Takes this delivery's turn: the key's lock, with no earlier delivery of the key still pending.
 * Otherwise says how long to wait: longer the further back in line, since the delivery just
 * ahead is woken as soon as its predecessor finishes (wakeNext).
 */
async function takeTurn(deps: DeliveryDeps, d: DeliveryRow, owner: string): Promise<{ lock: HeldLock } | { waitMs: number }> {
  if (!d.ordering_key) return { lock: { release: async () => undefined } };
  const lock = await acquireLock(deps.redis, lockKeys.ordering(deps.redisPrefix, d.ordering_key), owner);
  const ahead = await deps.deliveries.earlierPending(d.ordering_key, Number(d.seq));
  if (lock && ahead === 0) return { lock };
  await lock?.release();
  return { waitMs: Math.min(WAIT_MS * Math.max(1, ahead), MAX_WAIT_MS) };
}

export const webhookDelivery: JobDefinition<{ deliveryId: string }> = {
  queue: 'webhooks',
  name: 'delivery',
  async process(job, deps: DeliveryDeps, token) {
    const { deliveryId } = job.data;
    const d = await deps.deliveries.get(deliveryId);
    if (!d) throw new UnrecoverableError(`delivery ${deliveryId} is not stored`);
    if (d.status === 'processed' || d.status === 'ignored' || d.status === 'failed') return { status: d.status, skipped: true };

    const turn = await takeTurn(deps, d, jobOwner(job));
    if (!('lock' in turn)) throw await waitTurn(job, token, turn.waitMs);
    const { lock } = turn;
    const log = deps.log.child({ deliveryId, eventType: d.event_type, action: d.action });
    const settle = async (status: 'processed' | 'ignored' | 'failed', note: string | null) => {
      await deps.deliveries.finish(deliveryId, status, note);
      deps.metrics.deliveriesHandled.inc({ event_type: d.event_type, status });
    };
    try {
      const eventType = d.event_type;
      const project = d.repository ? await deps.projects.findByRepo(d.repository) : null;
      const handled = isHandledEventType(eventType) && handlerFor(eventType) !== undefined;
      if (!handled || !project) {
        const note = !handled ? `no handler for ${eventType}` : `repository ${d.repository ?? '(none)'} is not an aiworker project`;
        await settle('ignored', note);
        return { status: 'ignored', note };
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
      return result;
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      const last = isLastAttempt(job, err);
      if (last) await settle('failed', message);
      else await deps.deliveries.recordError(deliveryId, message);
      log.warn({ err, attempt: job.attemptsMade + 1, last }, 'delivery handler failed');
      throw err;
    } finally {
      await lock.release();
      if (d.ordering_key) await wakeNext(deps, d.ordering_key, Number(d.seq));
    }
  },
};

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

/** The next delivery of the same key is waiting in the delayed set: run it now rather than at its timer. */
async function wakeNext(deps: DeliveryDeps, orderingKey: string, seq: number): Promise<void> {
  try {
    const nextId = await deps.deliveries.nextPending(orderingKey, seq);
    const next = nextId ? await deps.queues.get('webhooks').getJob(nextId) : null;
    if (next && (await next.isDelayed())) await next.promote();
  } catch {
    // Only a shortcut: the delayed job runs at its timer anyway.
  }
}
