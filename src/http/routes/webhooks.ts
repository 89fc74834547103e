import Router from '@koa/router';
import { ingestWebhook, type IngestDeps } from '../../webhooks/ingest.js';

export function webhookRoutes(deps: IngestDeps): Router {
  const router = new Router();
  router.post('/webhooks/gitea', ingestWebhook(deps));
  return router;
}
