import { expect } from 'chai';
import type { Knex } from 'knex';
import { io as connectClient, type Socket } from 'socket.io-client';
import { createDb } from '../../src/db/connect.js';
import { giteaDelivery, type Delivery } from '../support/gitea-delivery.js';
import { processEnv, ServiceProcess, stopAll, waitForWorkers, withOutputOf } from '../support/processes.js';
import { dropTestState, eventually, TEST_API_TOKEN, TEST_FEED_TOKEN, uniqueName } from '../support/service.js';

const DELIVERIES = 1000;
/** Requests in flight at once, like a busy Gitea (it sends deliveries concurrently). */
const IN_FLIGHT = 24;
const MYSQL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

interface FeedClient {
  socket: Socket;
  web: number;
  events: Array<{ type: string; eventId: number; taskId: number }>;
}

async function feedClient(url: string, web: number, projectId: number): Promise<FeedClient> {
  const socket = connectClient(url, { auth: { token: TEST_FEED_TOKEN }, transports: ['websocket'], reconnection: false, forceNew: true });
  const client: FeedClient = { socket, web, events: [] };
  socket.onAny((type: string, payload: { eventId: number; taskId: number }) => client.events.push({ type, eventId: payload.eventId, taskId: payload.taskId }));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const ack = await socket.timeout(10_000).emitWithAck('subscribe', { projectId });
  if (ack.error) throw new Error(`subscribe refused: ${JSON.stringify(ack.error)}`);
  expect(ack.tasks).to.deep.equal([]);
  return client;
}

/** Sends every delivery, `IN_FLIGHT` at a time, delivery i to web process i mod n; returns the non-202 answers. */
async function sendRoundRobin(deliveries: Delivery[], webs: ServiceProcess[]): Promise<string[]> {
  const refused: string[] = [];
  let next = 0;
  const lane = async () => {
    while (next < deliveries.length) {
      const i = next++;
      const d = deliveries[i]!;
      const res = await fetch(`${webs[i % webs.length]!.url}/webhooks/gitea`, { method: 'POST', headers: d.headers, body: d.body });
      const text = await res.text();
      if (res.status !== 202) refused.push(`${d.id} → ${res.status} ${text}`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  return refused;
}

describe('system: scale-out (two web and two worker processes, one MySQL and Redis)', function () {
  this.timeout(240_000);
  const name = uniqueName();
  const procs: ServiceProcess[] = [];
  const clients: FeedClient[] = [];
  let db: Knex | null = null;

  before(async () => {
    // Started together, as a Deployment's replicas are: all of them create the database if missing and migrate it.
    const env = processEnv(name, { LOG_LEVEL: 'info' });
    const started = await Promise.allSettled([
      ServiceProcess.start('serve', env),
      ServiceProcess.start('serve', env),
      ServiceProcess.start('worker', env),
      ServiceProcess.start('worker', env),
    ]);
    for (const s of started) if (s.status === 'fulfilled') procs.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    await waitForWorkers(name, 'webhooks', 2);
    db = createDb(`${MYSQL}/aiworker_test_${name}`);
  });
  after(async () => {
    for (const c of clients) c.socket.close();
    await stopAll(procs);
    await db?.destroy();
    await dropTestState(name);
  });

  /** What the run left, read once by the checks below. */
  let run: {
    deliveries: Delivery[];
    issues: number[];
    handled: number[];
    taskIds: number[];
    createdEventIds: number[];
    timings: string;
  };

  before(async () => withOutputOf(procs, async () => {
    const [web1, web2, worker1, worker2] = procs as [ServiceProcess, ServiceProcess, ServiceProcess, ServiceProcess];
    const created = await fetch(`${web1.url}/api/projects`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Web app', repo: 'acme/webapp' }),
    });
    expect(created.status).to.equal(201);
    const project = (await created.json()) as { id: number };
    // Two clients per web process: each process must hand each event to each of its clients.
    for (const [i, web] of [web1, web1, web2, web2].entries()) clients.push(await feedClient(web.url!, i < 2 ? 1 : 2, project.id));

    const issues = Array.from({ length: DELIVERIES }, (_, i) => 1000 + i);
    const deliveries = issues.map((n) =>
      giteaDelivery('issues.labeled', {
        mutate: (p) => {
          p.issue.number = n;
          p.number = n;
          p.issue.title = `Issue ${n}`;
        },
      }),
    );
    const started = Date.now();
    expect(await sendRoundRobin(deliveries, [web1, web2])).to.deep.equal([]);
    const ingestMs = Date.now() - started;
    await eventually(async () => {
      const [{ n }] = await db!('webhook_deliveries').whereIn('status', ['processed', 'ignored', 'failed']).count({ n: '*' });
      return Number(n) === DELIVERIES;
    }, 120_000, `${DELIVERIES} deliveries to settle`).catch(async (err) => {
      const summary = await db!('webhook_deliveries').select('status', 'attempts', 'last_error').count({ n: '*' }).groupBy('status', 'attempts', 'last_error');
      throw new Error(`${(err as Error).message}: ${JSON.stringify(summary)}`);
    });
    const settledMs = Date.now() - started;
    const tasks = await db!('tasks').select('id');
    const events = await db!('task_events').where('type', 'task:created').select('id');
    // The feed trails the commits a little; anything beyond every event (a duplicate) shows in the checks.
    await eventually(async () => clients.every((c) => c.events.length >= events.length), 30_000, 'every feed client to get every event').catch(() => undefined);
    // Log lines reach the pipe a little after the rows they describe.
    const handled = () => worker1.logged('delivery handled') + worker2.logged('delivery handled');
    await eventually(async () => handled() >= DELIVERIES, 10_000, 'every delivery logged').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    run = {
      deliveries,
      issues,
      handled: [worker1.logged('delivery handled'), worker2.logged('delivery handled')],
      taskIds: tasks.map((t: any) => Number(t.id)).sort((a, b) => a - b),
      createdEventIds: events.map((e: any) => Number(e.id)).sort((a, b) => a - b),
      timings: `ingested in ${ingestMs} ms, settled in ${settledMs} ms`,
    };
  }));

  it(`processes each of ${DELIVERIES} deliveries sent round-robin to both web processes exactly once`, async () => {
    const rows = await db!('webhook_deliveries').select('delivery_id', 'status', 'attempts', 'last_error');
    expect(rows.map((r: any) => r.delivery_id).sort()).to.deep.equal(run.deliveries.map((d) => d.id).sort());
    // Processed on its first attempt: no delivery ran twice, none failed.
    expect(rows.filter((r: any) => r.status !== 'processed' || r.attempts !== 1)).to.deep.equal([]);
    const [a, b] = run.handled as [number, number];
    expect(a + b, `handled per worker: ${a} / ${b}`).to.equal(DELIVERIES);
    expect(Math.min(a, b), `both workers take work: ${a} / ${b}`).to.be.above(0);
    // The effect, once per delivery: one task per issue, one task:created each.
    const tasks = await db!('tasks').select('issue_number').orderBy('issue_number');
    expect(tasks.map((t: any) => t.issue_number)).to.deep.equal(run.issues);
    expect(run.createdEventIds).to.have.length(DELIVERIES);
    console.log(`      ${DELIVERIES} deliveries ${run.timings}; handled per worker ${a} / ${b}`);
  });

  it('hands every resulting event to every feed client of either web process, once', () => {
    for (const c of clients) {
      const ids = c.events.map((e) => e.eventId);
      expect(c.events.filter((e) => e.type !== 'task:created'), `web ${c.web}: only task:created`).to.deep.equal([]);
      expect(ids.length - new Set(ids).size, `web ${c.web}: duplicates`).to.equal(0);
      expect([...ids].sort((x, y) => x - y), `web ${c.web}: every event`).to.deep.equal(run.createdEventIds);
      expect(c.events.map((e) => e.taskId).sort((x, y) => x - y), `web ${c.web}: every task`).to.deep.equal(run.taskIds);
    }
  });

  it('hands them to each client in increasing eventId order', () => {
    for (const c of clients) {
      const ids = c.events.map((e) => e.eventId);
      // An event after a larger one is lost to a client that reconnects with `since` = the largest id it saw.
      const late = ids.filter((id, i) => id < Math.max(...ids.slice(0, i)));
      expect(late.length, `web ${c.web}: ${late.length} of ${ids.length} events came after a larger eventId, e.g. ${late.slice(0, 10).join(', ')}`).to.equal(0);
    }
  });
});
