import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { TEST_WEBHOOK_SECRET } from './gitea-delivery.js';
import { freePort } from './redis-server.js';
import { eventually, REDIS_URL, TEST_API_TOKEN, TEST_FEED_TOKEN } from './service.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MYSQL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
/** Output kept per process for failure messages: the tail is what explains a crash. */
const KEPT_OUTPUT = 64 * 1024;

/**
 * The settings of a service process of a test: its own database and Redis prefix (`name`, from
 * uniqueName(), so dropTestState(name) removes them), the test tokens, and `extra` on top.
 */
export function processEnv(name: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: `${MYSQL}/aiworker_test_${name}`,
    REDIS_URL,
    REDIS_PREFIX: `aiwtest_${name}`,
    API_TOKEN: TEST_API_TOKEN,
    FEED_TOKEN: TEST_FEED_TOKEN,
    GITEA_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    ...extra,
  };
}

/** An aiworker process (`serve` or `worker`) started from the sources, as a deployment runs it. */
export class ServiceProcess {
  private out = '';
  private partial = '';
  private readonly messages = new Map<string, number>();
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  private constructor(
    readonly role: 'serve' | 'worker',
    private readonly child: ChildProcess,
    /** Where a `serve` process listens; null for a worker. */
    readonly url: string | null,
  ) {
    const keep = (d: Buffer) => {
      this.out = (this.out + d.toString('utf8')).slice(-KEPT_OUTPUT);
    };
    child.stdout!.on('data', (d: Buffer) => {
      keep(d);
      this.countMessages(d.toString('utf8'));
    });
    child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        // null when a signal ended it.
        this.exitCode = code;
        resolve(code);
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** How many log lines with this `msg` it wrote so far (all of them, not only the kept output). */
  logged(msg: string): number {
    return this.messages.get(msg) ?? 0;
  }

  private countMessages(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) {
      try {
        const { msg } = JSON.parse(line) as { msg?: unknown };
        if (typeof msg === 'string') this.messages.set(msg, (this.messages.get(msg) ?? 0) + 1);
      } catch {
        // Not a log line (a crash's stack trace): kept in output() only.
      }
    }
  }

  /** The last of what it wrote (JSON log lines), for failure messages. */
  output(): string {
    return this.out;
  }

  /**
   * Spawns `node --import tsx src/cli.ts <role>`; a `serve` process is returned once /healthz
   * answers. Throws (with the process's output) if it exits first or is not up within timeoutMs.
   */
  static async start(role: 'serve' | 'worker', env: Record<string, string>, timeoutMs = 60_000): Promise<ServiceProcess> {
    const port = role === 'serve' ? await freePort() : 0;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', role], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new ServiceProcess(role, child, role === 'serve' ? `http://127.0.0.1:${port}` : null);
    if (role === 'serve') {
      try {
        await eventually(async () => {
          if (!proc.running) throw new Error(`exited with ${proc.exitCode}`);
          return (await fetch(`${proc.url}/healthz`).catch(() => null))?.ok;
        }, timeoutMs, `${role} process ${proc.pid} to listen`);
      } catch (err) {
        await proc.kill();
        throw new Error(`${(err as Error).message}\n${proc.output()}`);
      }
    }
    return proc;
  }

  /** A REST call with the test API token to this (`serve`) process; the status and the parsed answer. */
  async api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${TEST_API_TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  }

  /** SIGKILL: the process dies holding whatever it held. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, the graceful shutdown; SIGKILL if it has not exited within graceMs. Resolves to the exit code. */
  async stop(graceMs = 15_000): Promise<number | null> {
    if (!this.running) return this.exitCode ?? null;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * A web process and a worker on the state `name`, with `extra` settings and a 2 s job lock (a dead
 * worker's jobs are taken over within seconds); returned once the worker serves `queue`.
 */
export async function startWebAndWorker(name: string, extra: Record<string, string>, queue: string): Promise<{ env: Record<string, string>; web: ServiceProcess; worker: ServiceProcess }> {
  const env = processEnv(name, { ...extra, JOB_LOCK_SECONDS: '2' });
  const web = await ServiceProcess.start('serve', env);
  const worker = await ServiceProcess.start('worker', env);
  await waitForWorkers(name, queue, 1);
  return { env, web, worker };
}

/** Stops every process (graceful first, SIGKILL after graceMs), all at once; never throws. */
export async function stopAll(processes: Array<ServiceProcess | null | undefined>, graceMs = 15_000): Promise<void> {
  await Promise.allSettled(processes.map((p) => p?.stop(graceMs)));
}

/** Waits until `count` worker processes take jobs of `queue` (BullMQ names its worker connections). */
export async function waitForWorkers(name: string, queue: string, count: number, timeoutMs = 60_000): Promise<void> {
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const q = new Queue(queue, { connection, prefix: `aiwtest_${name}:bull` });
  try {
    await eventually(async () => (await q.getWorkersCount()) === count, timeoutMs, `${count} worker(s) on queue ${queue}`);
  } finally {
    await q.close();
    connection.disconnect();
  }
}

/** Runs fn; if it fails, the processes' latest output is added to the error, so a crash explains itself. */
export async function withOutputOf<T>(processes: ServiceProcess[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const outputs = processes.map((p) => `--- ${p.role} ${p.pid}${p.running ? '' : ' (exited)'} ---\n${p.output().slice(-3000)}`);
    if (err instanceof Error) err.message += `\n${outputs.join('\n')}`;
    throw err;
  }
}
