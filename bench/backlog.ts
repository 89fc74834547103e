import mysql from 'mysql2/promise';
import { processEnv } from '../test/support/processes.js';
import { loadFromChild } from './ingest.js';
import { cpuMsOf, pidOf } from './processes.js';
import { startAiworker } from './service.js';

/**
 * Whose pushes fill the backlog: the project's own (each moves the task's head through the push
 * handler, a transaction of its own), or a mirror of it that is no aiworker project (each ends
 * `ignored` once its project is looked up: what remains is the cost of keeping order).
 */
export type BacklogPushes = 'project' | 'mirror';

export interface BacklogRun {
  pushes: BacklogPushes;
  deliveries: number;
  /** Deliveries still waiting when the worker became ready (it may have started on a few). */
  waitingAtReady: number;
  seconds: number;
  perSecond: number;
  /** How the deliveries ended: {processed: n, …}. */
  statuses: Record<string, number>;
  /** Every delivery ended after the one stored before it. */
  inOrder: boolean;
  /** The task's recorded head is the one the last stored push brought (its own pushes only; else null). */
  headIsLast: boolean | null;
  /** CPU per delivery (µs) over the drain. */
  cpuUs: { worker: number | null; mysqld: number | null; redis: number | null };
}

const WAITING = ['received', 'queued'];

/**
 * A backlog on one ordering key, as a busy task branch leaves it: the web role (its own process,
 * default settings, no worker) takes `size` signed pushes to one task branch from 50 connections;
 * then a worker process starts and handles them (see BacklogPushes). Measured from the moment the worker answers its health check to the last delivery
 * ended, on what was still waiting then; checked: each ended, in the order stored, and the task's
 * head is the last push's.
 */
export async function benchBacklog(pushes: BacklogPushes, size: number): Promise<BacklogRun> {
  const web = await startAiworker('serve');
  const db = await mysql.createConnection(processEnv(web.stateName).DATABASE_URL);
  let worker: Awaited<ReturnType<typeof startAiworker>> | null = null;
  try {
    const project = await web.api('POST', '/api/projects', { name: 'Backlog bench', repo: 'acme/webapp' });
    const task = await web.api('POST', '/api/tasks', { projectId: project.id, title: 'A busy branch' });
    const repo = pushes === 'project' ? project.repo : `${project.repo}-mirror`;
    const load = await loadFromChild(`${web.url}/webhooks/gitea`, size, 50, 0, `push:${repo}:task-${task.id}-add-login`);
    if (load.statuses['202'] !== size) throw new Error(`the backlog was not taken: ${JSON.stringify(load.statuses)}`);
    const waiting = async () => {
      const [rows] = await db.query('SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status IN (?)', [WAITING]);
      return Number((rows as Array<{ n: number }>)[0].n);
    };

    const pids = { mysqld: await pidOf('mariadbd'), redis: await pidOf('redis-server') };
    worker = await startAiworker('worker', {}, web);
    const cpuOf = () => ({ worker: cpuMsOf(worker!.pid), mysqld: pids.mysqld && cpuMsOf(pids.mysqld), redis: pids.redis && cpuMsOf(pids.redis) });
    const started = process.hrtime.bigint();
    const cpuBefore = cpuOf();
    const waitingAtReady = await waiting();
    const deadline = Date.now() + 15 * 60_000;
    while ((await waiting()) > 0) {
      if (Date.now() > deadline) throw new Error(`the backlog of ${size} was not drained in 15 minutes: ${await waiting()} still waiting`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpuAfter = cpuOf();
    const perDelivery = (k: keyof typeof cpuBefore) => {
      const [b, a] = [cpuBefore[k], cpuAfter[k]];
      return b === null || a === null ? null : ((a - b) * 1000) / waitingAtReady;
    };

    const [statusRows] = await db.query('SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status');
    const statuses = Object.fromEntries((statusRows as Array<{ status: string; n: number }>).map((r) => [r.status, Number(r.n)]));
    const [ends] = await db.query('SELECT processed_at, payload FROM webhook_deliveries ORDER BY seq');
    const ended = ends as Array<{ processed_at: Date; payload: string | Buffer }>;
    const inOrder = ended.every((row, i) => i === 0 || row.processed_at.getTime() >= ended[i - 1].processed_at.getTime());
    const lastHead = JSON.parse(String(ended[ended.length - 1].payload)).after;
    const headIsLast = pushes === 'project' ? (await web.api('GET', `/api/tasks/${task.id}`)).headSha === lastHead : null;
    return {
      pushes,
      deliveries: size,
      waitingAtReady,
      seconds,
      perSecond: waitingAtReady / seconds,
      statuses,
      inOrder,
      headIsLast,
      cpuUs: { worker: perDelivery('worker'), mysqld: perDelivery('mysqld'), redis: perDelivery('redis') },
    };
  } finally {
    await db.end();
    await worker?.close();
    await web.close();
  }
}
