import { Redis } from 'ioredis';
import { feedChannel } from '../src/feed/publisher.js';
import type { FeedEvent } from '../src/tasks/event-log.js';
import { giteaDelivery } from '../test/support/gitea-delivery.js';
import type { GiteaServer } from '../test/support/gitea-server.js';
import { REDIS_URL } from '../test/support/service.js';
import { percentile } from './load.js';
import type { Aiworker } from './service.js';

const WARMUP = 3;

/**
 * Latency from a `pull_request` opened webhook to the task's `task:ready_to_test` feed event, end to
 * end, against a running `all` service with its default settings (a preview deploys at once):
 * signed delivery → ingest (MySQL) → webhooks queue → handler → deploy queue → preview-deploy job
 * (render, apply, rollout read, transition) → Redis feed. Kubernetes and Gitea are loopback servers
 * (test/support) that answer at once, so what is measured is aiworker's own path. Samples run one
 * after another; `n` excludes a short warm-up.
 */
export async function benchPreviewLatency(service: Aiworker, gitea: GiteaServer, n: number): Promise<{ samples: number; p50: number; p99: number }> {
  const subscriber = new Redis(REDIS_URL);
  const waiting = new Map<number, (failure?: string) => void>();
  try {
    await subscriber.subscribe(feedChannel(service.redisPrefix));
    subscriber.on('message', (_channel, message) => {
      for (const event of ([] as FeedEvent[]).concat(JSON.parse(message))) {
        if (event.taskId === null) continue;
        if (event.type === 'task:ready_to_test') waiting.get(event.taskId)?.();
        // A failed deploy would otherwise only show as a timeout.
        if (event.type === 'deploy:completed' && event.payload.status !== 'succeeded') waiting.get(event.taskId)?.(JSON.stringify(event.payload));
      }
    });
    const project = await service.api('POST', '/api/projects', { name: 'bench', repo: 'acme/webapp', previewImage: 'registry.example.com/acme/webapp' });
    const latencies: number[] = [];
    for (let i = 0; i < WARMUP + n; i++) {
      const task = await service.api('POST', '/api/tasks', { projectId: project.id, title: `bench ${i}` });
      await service.api('PATCH', `/api/tasks/${task.id}`, { state: 'in_progress' });
      const delivery = giteaDelivery('pull_request.opened', { taskId: task.id, prNumber: 1000 + i });
      // The deploy asks Gitea for the PR's head: Gitea knows the PR the delivery is about.
      gitea.openPull(1000 + i, delivery.payload.pull_request.head.sha, `task-${task.id}-add-login`);
      const ready = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`task ${task.id} not ready_to_test within 30 s`)), 30_000);
        waiting.set(task.id, (failure) => {
          clearTimeout(timer);
          if (failure) reject(new Error(`preview of task ${task.id} did not deploy: ${failure}`));
          else resolve();
        });
      });
      const started = process.hrtime.bigint();
      const res = await fetch(`${service.url}/webhooks/gitea`, { method: 'POST', headers: delivery.headers, body: delivery.body });
      if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
      await ready;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      waiting.delete(task.id);
      if (i >= WARMUP) latencies.push(ms);
    }
    latencies.sort((a, b) => a - b);
    return { samples: latencies.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  } finally {
    subscriber.disconnect();
  }
}
