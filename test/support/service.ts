import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { dropDatabase } from '../../src/db/connect.js';
import { startService, type Service, type ServiceOverrides } from '../../src/main.js';
import { TEST_WEBHOOK_SECRET, type Delivery } from './gitea-delivery.js';
import { refusal, type TaskState, type TransitionSource, type TransitionVia } from '../../src/tasks/states.js';

export const TEST_API_TOKEN = 'test-api-token';
export const TEST_FEED_TOKEN = 'test-feed-token';
const MYSQL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestService extends Service {
  /** Sends a REST call with the API token; returns status and parsed JSON. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  /** Posts a Gitea delivery to /webhooks/gitea. */
  deliver(delivery: Delivery): Promise<{ status: number; body: any }>;
  /** Waits until the delivery reached a final status (processed, ignored, failed). */
  settled(deliveryId: string, timeoutMs?: number): Promise<string>;
  cleanup(): Promise<void>;
}

/** A unique name per test service: its own database and Redis key prefix, so runs never collide. */
export function uniqueName(): string {
  return `${process.pid}_${randomBytes(4).toString('hex')}`;
}

export async function eventually<T>(fn: () => Promise<T | null | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function startTestService(
  env: Record<string, string> = {},
  overrides: ServiceOverrides = {},
  shared?: { name: string },
): Promise<TestService> {
  const name = shared?.name ?? uniqueName();
  const config = loadConfig({
    DATABASE_URL: `${MYSQL}/aiworker_test_${name}`,
    REDIS_URL,
    REDIS_PREFIX: `aiwtest_${name}`,
    PORT: '0',
    API_TOKEN: TEST_API_TOKEN,
    FEED_TOKEN: TEST_FEED_TOKEN,
    GITEA_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...env,
  });
  const service = await startService(config, {
    log: createLogger(config.logLevel),
    recovery: { intervalMs: 200, staleAfterMs: 1000 },
    schedules: false,
    ...overrides,
  });
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${service.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${TEST_API_TOKEN}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // Non-JSON answers (metrics) stay text.
    }
    return { status: res.status, body: parsed as any };
  };
  return {
    ...service,
    api: call,
    async deliver(d) {
      const res = await fetch(`${service.url}/webhooks/gitea`, { method: 'POST', headers: d.headers, body: d.body });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    async settled(deliveryId, timeoutMs = 10_000) {
      return eventually(async () => {
        const row = await service.deliveries.get(deliveryId);
        return row && ['processed', 'ignored', 'failed'].includes(row.status) ? row.status : null;
      }, timeoutMs, `delivery ${deliveryId} to settle`);
    },
    async cleanup() {
      await service.stop();
      if (!shared) await dropTestState(name);
    },
  };
}

export async function dropTestState(name: string): Promise<void> {
  await dropDatabase(`${MYSQL}/aiworker_test_${name}`);
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `aiwtest_${name}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export async function createProject(svc: TestService, extra: Record<string, unknown> = {}): Promise<any> {
  const res = await svc.api('POST', '/api/projects', { name: 'Web app', repo: 'acme/webapp', ...extra });
  if (res.status !== 201) throw new Error(`project not created: ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function createTask(svc: TestService, projectId: number, title = 'Add login'): Promise<any> {
  const res = await svc.api('POST', '/api/tasks', { projectId, title });
  if (res.status !== 201) throw new Error(`task not created: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Each way of asking for a move that SPEC §2 names, tried in turn by moveTask. */
const TEST_MOVERS: Array<{ source: TransitionSource; via?: TransitionVia }> = [
  { source: 'rest' },
  { source: 'gitea' },
  { source: 'system' },
  { source: 'agent', via: 'claim' },
  { source: 'agent', via: 'question' },
  { source: 'gitea', via: 'answer' },
];

/**
 * Sets a task up in a state: each move is made as whoever SPEC §2 lets make it (a question for
 * needs_input, an answer out of it, the preview for ready_to_test…), through the state machine.
 */
export async function moveTask(svc: TestService, id: number, ...states: TaskState[]): Promise<void> {
  for (const to of states) {
    const from = (await svc.tasks.get(id)).state;
    if (from === to) continue;
    const mover = TEST_MOVERS.find((m) => refusal(from, to, { ...m, previews: false }) === null && (to !== 'ready_to_test' || m.source === 'system'));
    if (!mover) throw new Error(`no one may move task ${id} from ${from} to ${to}`);
    if (mover.via === 'question') {
      await svc.tasks.ask(id, null, 'A question set up by a test?', 'test');
      continue;
    }
    if (mover.via === 'answer') {
      await svc.tasks.answer(id, 'An answer set up by a test.', { actor: 'test', source: mover.source });
      continue;
    }
    await svc.tasks.transition(id, to, { ...mover, actor: 'test', reason: 'set up by a test' });
  }
}
