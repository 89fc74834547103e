import Router from '@koa/router';
import { z } from 'zod';
import { validate } from '../validate.js';
import { pageQuery } from '../../pagination.js';
import { DELIVERY_STATUSES, type DeliveryStore } from '../../webhooks/deliveries.js';
import { requeueDelivery, type DeliveryQueue } from '../../webhooks/delivery-queue.js';
import type { Queues } from '../../queue/queues.js';

const listQuery = pageQuery.extend({ status: z.enum(DELIVERY_STATUSES).optional() });

export function deliveryRoutes(deps: { deliveries: DeliveryStore; queues: Queues; queue: DeliveryQueue }): Router {
  const router = new Router();
  router.get('/api/webhooks/deliveries', async (ctx) => {
    const q = validate(listQuery, ctx.query, 'query');
    ctx.body = await deps.deliveries.list({ status: q.status }, q);
  });
  router.post('/api/webhooks/deliveries/:id/replay', async (ctx) => {
    const id = ctx.params.id;
    await deps.deliveries.reset(id);
    // Stored as received either way: if Redis is away, recovery queues it when it is back.
    const outcome = await requeueDelivery(deps.queues, deps.queue, deps.deliveries, id).catch(() => 'not queued' as const);
    ctx.status = 202;
    ctx.body = { deliveryId: id, status: outcome === 'not queued' ? 'received' : 'queued' };
  });
  return router;
}
