import Router from '@koa/router';
import { z } from 'zod';
import { validate } from '../validate.js';
import { pageQuery } from '../../pagination.js';
import { DELIVERY_STATUSES, type DeliveryStore } from '../../webhooks/deliveries.js';
import { requeueDelivery, type DeliveryQueue } from '../../webhooks/delivery-queue.js';
import type { Queues } from '../../queue/queues.js';
import { route } from '../openapi.js';
import { delivery, page, replayed } from '../shapes.js';
import { access } from '../../access/rights.js';
import { forbidden, notFound } from '../../errors.js';

const listQuery = pageQuery.extend({ status: z.enum(DELIVERY_STATUSES).optional() });

export function deliveryRoutes(deps: { deliveries: DeliveryStore; queues: Queues; queue: DeliveryQueue }): Router {
  const router = new Router();
  route(router, 'get', '/api/webhooks/deliveries', {
    summary: 'List stored webhook deliveries, newest first',
    query: listQuery,
    answers: { 200: { description: 'a page of deliveries', body: page('deliveries', delivery) } },
    errors: [400],
  }, async (ctx) => {
    const q = validate(listQuery, ctx.query, 'query');
    const readable = await access(ctx).readableProjects();
    ctx.body = await deps.deliveries.list({ status: q.status, repositories: readable?.map((p) => p.repo) }, q);
  });
  route(router, 'post', '/api/webhooks/deliveries/:id/replay', {
    summary: 'Handle a stored delivery again (handlers converge: nothing doubles)',
    answers: { 202: { description: 'queued again (or stored as received until Redis is back)', body: replayed } },
    errors: [404],
  }, async (ctx) => {
    const id = ctx.params.id;
    const request = access(ctx);
    if (request.caller.kind === 'person') {
      const delivery = await deps.deliveries.get(id);
      if (!delivery) throw notFound(`delivery ${id}`);
      if (!delivery.repository) throw forbidden(`delivery ${id} names no repository: replaying it takes API_TOKEN`);
      await request.on(delivery.repository);
    }
    await deps.deliveries.reset(id);
    // Stored as received either way: if Redis is away, recovery queues it when it is back.
    const outcome = await requeueDelivery(deps.queues, deps.queue, deps.deliveries, id).catch(() => 'not queued' as const);
    ctx.status = 202;
    ctx.body = { deliveryId: id, status: outcome === 'not queued' ? 'received' : 'queued' };
  });
  return router;
}
