import Router from '@koa/router';
import { z } from 'zod';
import { ingestWebhook, type IngestDeps } from '../../webhooks/ingest.js';
import { route } from '../openapi.js';
import { deliveryAnswer } from '../shapes.js';

export function webhookRoutes(deps: IngestDeps): Router {
  const router = new Router();
  route(router, 'post', '/webhooks/gitea', {
    summary: "Gitea's webhook deliveries: stored, queued, answered at once",
    description:
      'Signed with the webhook secret (HMAC-SHA256 of the raw body, hex, in X-Gitea-Signature or X-Hub-Signature-256 as sha256=<hex>). ' +
      'The body is the event payload as JSON, or a form whose `payload` field holds it. A delivery id seen before answers 200 and does nothing again.',
    auth: 'signature',
    headers: {
      'X-Gitea-Delivery': { description: "the delivery's id (a UUID); deliveries are stored under it", required: true },
      'X-Gitea-Event-Type': { description: 'the fine event type aiworker dispatches on (push, pull_request_sync, pull_request_review_approved, …)', required: true },
      'X-Gitea-Event': { description: 'the coarse event name' },
      'X-Gitea-Signature': { description: 'hex HMAC-SHA256 of the raw body' },
      'X-Hub-Signature-256': { description: 'sha256=<the same hex>' },
    },
    body: z.record(z.string(), z.unknown()).meta({ description: "Gitea's event payload" }),
    answers: {
      200: { description: 'a delivery already stored: nothing done again', body: deliveryAnswer },
      202: { description: 'stored and queued for handling (or recorded as ignored: an event type aiworker does not handle)', body: deliveryAnswer },
    },
    errors: [400, 401, 413, 415, 503],
  }, ingestWebhook(deps));
  return router;
}
