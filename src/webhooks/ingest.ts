import { isUtf8 } from 'node:buffer';
import type { Context } from 'koa';
import { AppError, badRequest, unauthorized, unavailable, unsupportedMediaType } from '../errors.js';
import { mediaType, parseJson } from '../request/body.js';
import { readRawBody } from '../request/raw-body.js';
import { verifySignature } from '../gitea/signature.js';
import { actionOf, isHandledEventType, repositoryOf } from '../gitea/events.js';
import { orderingKey } from './ordering-key.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { DeliveryIntake, IntakeOutcome } from './intake.js';

export interface IngestDeps {
  intake: DeliveryIntake;
  secrets: readonly string[];
  maxBytes: number;
  log: Logger;
  metrics: Metrics;
}

const DELIVERY_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const EVENT_NAME = /^[a-z_]{1,64}$/;

/** The bytes Gitea signed: the body itself, or for form deliveries the decoded `payload` field. */
function signedBytes(type: string, raw: Buffer): Buffer | null {
  if (type === 'application/x-www-form-urlencoded') {
    const payload = new URLSearchParams(raw.toString('utf8')).get('payload');
    return payload === null ? null : Buffer.from(payload, 'utf8');
  }
  return raw;
}

/**
 * POST /webhooks/gitea, in SPEC §3's order: size, signature, content, durable insert, queue, 202.
 * Nothing slow happens here: handlers run in workers.
 */
export function ingestWebhook(deps: IngestDeps) {
  return async (ctx: Context) => {
    const eventType = ctx.get('x-gitea-event-type') || ctx.get('x-gitea-event');
    // A label per header value would let any sender grow the metrics without bound.
    const label = isHandledEventType(eventType) ? eventType : EVENT_NAME.test(eventType) ? 'other' : 'invalid';
    const count = (outcome: string) => deps.metrics.webhooksReceived.inc({ event_type: label, outcome });
    try {
      const raw = await readRawBody(ctx, deps.maxBytes);
      const type = mediaType(ctx);
      const signed = signedBytes(type, raw);

      if (!deps.secrets.length) throw unauthorized('webhooks are refused: GITEA_WEBHOOK_SECRET is not configured on the server');
      const giteaSignature = ctx.get('x-gitea-signature') || undefined;
      const hubSignature256 = ctx.get('x-hub-signature-256') || undefined;
      if (!giteaSignature && !hubSignature256) throw unauthorized('the delivery is not signed (no X-Gitea-Signature or X-Hub-Signature-256)');
      if (!signed || !(await verifySignature(signed, { giteaSignature, hubSignature256 }, deps.secrets))) {
        throw unauthorized('the delivery signature does not match the configured webhook secret');
      }

      if (type !== 'application/json' && type !== 'application/x-www-form-urlencoded') throw unsupportedMediaType(type);
      const text = signed.toString('utf8');
      const payload = parseJson(text, 'payload');
      if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw badRequest('payload must be a JSON object');

      const deliveryId = ctx.get('x-gitea-delivery');
      if (!DELIVERY_ID.test(deliveryId)) throw badRequest('X-Gitea-Delivery header is missing or malformed');
      if (!EVENT_NAME.test(eventType)) throw badRequest('X-Gitea-Event-Type header is missing or malformed');
      const event = ctx.get('x-gitea-event') || eventType;

      // Built before the insert: only a failure to store the delivery is the 503 below.
      const ignoredReason = isHandledEventType(eventType) ? undefined : `event type ${eventType} is not handled`;
      const delivery = {
        id: deliveryId,
        event: EVENT_NAME.test(event) ? event : eventType,
        eventType,
        action: actionOf(payload)?.slice(0, 64) ?? null,
        repository: repositoryOf(payload)?.slice(0, 255) ?? null,
        orderingKey: orderingKey(eventType, payload)?.slice(0, 300) ?? null,
        payload: isUtf8(signed) ? signed : text,
        ignoredReason,
      };
      let outcome: IntakeOutcome;
      try {
        outcome = await deps.intake.submit(delivery);
      } catch (err) {
        deps.log.error({ err, deliveryId }, 'could not store delivery');
        throw unavailable('the delivery could not be stored (database unavailable); replay it from Gitea later');
      }
      count(outcome === 'received' ? 'stored' : outcome);
      if (outcome === 'duplicate') {
        ctx.status = 200;
        ctx.body = { status: 'duplicate', deliveryId };
        return;
      }
      ctx.status = 202;
      ctx.body = outcome === 'ignored' ? { status: 'ignored', deliveryId, reason: ignoredReason } : { status: outcome, deliveryId };
    } catch (err) {
      count(err instanceof AppError ? String(err.status) : 'error');
      throw err;
    }
  };
}
