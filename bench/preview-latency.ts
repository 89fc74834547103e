import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { createKubeCluster } from '../src/k8s/cluster.js';
import { feedChannel } from '../src/feed/publisher.js';
import type { FeedEvent } from '../src/feed/events.js';
import { giteaDelivery } from '../test/support/gitea-delivery.js';
import { REDIS_URL, startTestService } from '../test/support/service.js';
import { percentile } from './load.js';

const TOKEN = 'bench-token';
const WARMUP = 3;

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function resourceList(groupVersion: string, resources: Array<[string, string, boolean]>) {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion,
    resources: resources.map(([name, kind, namespaced]) => ({ name, singularName: kind.toLowerCase(), namespaced, kind, verbs: ['get', 'list', 'patch', 'delete'] })),
  };
}

const DISCOVERY: Record<string, unknown> = {
  '/api/v1': resourceList('v1', [['namespaces', 'Namespace', false], ['services', 'Service', true]]),
  '/apis/apps/v1': resourceList('apps/v1', [['deployments', 'Deployment', true]]),
  '/apis/networking.k8s.io/v1': resourceList('networking.k8s.io/v1', [['ingresses', 'Ingress', true]]),
};

/**
 * A loopback stand-in for the two remote APIs a preview deploy calls: the Kubernetes API server
 * (discovery, server-side apply, the Deployment read, which reports the rollout available at once)
 * and, under /gitea, Gitea's commit status and comment endpoints. It answers instantly, so what is
 * measured is aiworker's own path, not a real cluster's rollout.
 */
async function fakeApis(): Promise<{ url: string; requests: () => number; close(): Promise<void> }> {
  let requests = 0;
  let commentId = 0;
  const server = http.createServer((req, res) => {
    requests++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : null;
      if (path.startsWith('/gitea/api/v1/')) {
        if (/\/statuses\/[0-9a-f]+$/.test(path)) return json(res, 201, { id: requests, status: body.state, context: body.context, description: body.description, target_url: body.target_url ?? '' });
        if (/\/issues\/\d+\/comments$/.test(path)) return json(res, 201, { id: ++commentId, body: body.body });
        if (/\/issues\/comments\/\d+$/.test(path)) return json(res, 200, { id: Number(path.split('/').pop()), body: body.body });
        return json(res, 404, { message: 'not found' });
      }
      if (req.method === 'GET' && DISCOVERY[path]) return json(res, 200, DISCOVERY[path]);
      if (req.method === 'PATCH') return json(res, 200, { ...body, metadata: { ...body.metadata, uid: 'bench', resourceVersion: '1', generation: 1 } });
      const deployment = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)$/.exec(path);
      if (req.method === 'GET' && deployment) {
        return json(res, 200, {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: deployment[2], namespace: deployment[1], generation: 1 },
          spec: { replicas: 1 },
          status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1, conditions: [{ type: 'Available', status: 'True' }] },
        });
      }
      json(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${req.method} ${path}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Latency from a `pull_request` opened webhook to the task's `task:ready_to_test` feed event, end to
 * end: signed delivery → ingest (MySQL) → webhooks queue → handler → deploy queue → preview-deploy job
 * (render, apply, rollout read, transition) → Redis feed. The preview debounce is set to 0, so the
 * 1.5 s burst window production waits is not in these figures; the Kubernetes and Gitea APIs are a
 * local server that answers at once. Samples run one after another; `n` excludes a short warm-up.
 */
export async function benchPreviewLatency(n: number): Promise<{ samples: number; p50: number; p99: number }> {
  const apis = await fakeApis();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // client-node refuses plain HTTP unless TLS verification is off; there is no TLS on loopback to verify.
    clusters: [{ name: 'bench', server: apis.url, skipTLSVerify: true }],
    users: [{ name: 'bench', token: TOKEN }],
    contexts: [{ name: 'bench', cluster: 'bench', user: 'bench' }],
    currentContext: 'bench',
  });
  const svc = await startTestService(
    { GITEA_URL: `${apis.url}/gitea`, GITEA_TOKEN: TOKEN, GITEA_BOT_LOGIN: 'aiworker-bot' },
    { cluster: createKubeCluster({ kubeConfig: kc }), previewDebounceMs: 0 },
  );
  const subscriber = new Redis(REDIS_URL);
  const waiting = new Map<number, (failure?: string) => void>();
  try {
    await subscriber.subscribe(feedChannel(svc.config.redisPrefix));
    subscriber.on('message', (_channel, message) => {
      const event = JSON.parse(message) as FeedEvent;
      if (event.taskId === null) return;
      if (event.type === 'task:ready_to_test') waiting.get(event.taskId)?.();
      // A failed deploy would otherwise only show as a timeout.
      if (event.type === 'deploy:completed' && event.payload.status !== 'succeeded') waiting.get(event.taskId)?.(JSON.stringify(event.payload));
    });
    const project = await svc.projects.create({ name: 'bench', repo: 'acme/webapp', previewImage: 'registry.example.com/acme/webapp' });
    const latencies: number[] = [];
    for (let i = 0; i < WARMUP + n; i++) {
      const task = await svc.tasks.create({ projectId: project.id, title: `bench ${i}`, actor: 'bench' });
      await svc.tasks.transition(task.id, 'in_progress', { source: 'rest', actor: 'bench' });
      const delivery = giteaDelivery('pull_request.opened', { taskId: task.id, prNumber: 1000 + i });
      const ready = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`task ${task.id} not ready_to_test within 30 s`)), 30_000);
        waiting.set(task.id, (failure) => {
          clearTimeout(timer);
          if (failure) reject(new Error(`preview of task ${task.id} did not deploy: ${failure}`));
          else resolve();
        });
      });
      const started = process.hrtime.bigint();
      const res = await svc.deliver(delivery);
      if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${JSON.stringify(res.body)}`);
      await ready;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      waiting.delete(task.id);
      if (i >= WARMUP) latencies.push(ms);
    }
    latencies.sort((a, b) => a - b);
    return { samples: latencies.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  } finally {
    subscriber.disconnect();
    await svc.cleanup();
    await apis.close();
  }
}
