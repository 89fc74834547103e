import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every metric the service exports, built once per process (tests build their own). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'aiworker_' });
  return {
    registry,
    httpRequests: new Histogram({
      name: 'aiworker_http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    webhooksReceived: new Counter({
      name: 'aiworker_webhooks_received_total',
      help: 'Webhook deliveries by event type and outcome of ingest',
      labelNames: ['event_type', 'outcome'] as const,
      registers: [registry],
    }),
    deliveriesHandled: new Counter({
      name: 'aiworker_webhook_deliveries_handled_total',
      help: 'Deliveries handled by workers, by event type and final status',
      labelNames: ['event_type', 'status'] as const,
      registers: [registry],
    }),
    jobs: new Counter({
      name: 'aiworker_jobs_total',
      help: 'BullMQ jobs finished, by queue, job name and outcome',
      labelNames: ['queue', 'name', 'outcome'] as const,
      registers: [registry],
    }),
    jobDuration: new Histogram({
      name: 'aiworker_job_duration_seconds',
      help: 'BullMQ job run time by queue',
      labelNames: ['queue'] as const,
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
      registers: [registry],
    }),
    requeued: new Counter({
      name: 'aiworker_webhook_deliveries_requeued_total',
      help: 'Work found pending in MySQL and queued again by recovery: deliveries (kind="delivery") and outbox jobs (kind="job")',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    feedClients: new Gauge({
      name: 'aiworker_feed_clients',
      help: 'Socket.IO feed clients connected to this process',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
