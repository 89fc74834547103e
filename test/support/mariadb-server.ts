import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './service.js';

const reachable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

/** Runs a command to its end; rejects with its output when it fails. */
function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}:\n${out}`))));
  });
}

// mariadbd refuses to run as root unless told to; root is who runs the tests in CI containers.
const asUser = () => (process.getuid?.() === 0 ? ['--user=root'] : []);
// Small enough that creating and starting a server takes about a second.
const SMALL = ['--innodb-buffer-pool-size=16M', '--innodb-log-file-size=8M'];

/**
 * A throwaway MariaDB server of the test's own, in a temporary data directory, that a test may
 * stop (as a crash would: SIGKILL) and start again on the same port and data. root@127.0.0.1
 * has no password, like the shared test server.
 */
export class TestMariaDb {
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'aiwtest-mariadb-'));

  constructor(readonly port: number) {}

  /** The DATABASE_URL of a database on this server. */
  databaseUrl(database: string): string {
    return `mysql://root@127.0.0.1:${this.port}/${database}`;
  }

  /** Creates the data directory (system tables, root without a password). */
  async install(): Promise<void> {
    await run('mariadb-install-db', [
      '--no-defaults',
      `--datadir=${join(this.dir, 'data')}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      ...asUser(),
      ...SMALL,
    ]);
  }

  /** Starts the server (a no-op while it runs) and waits until it takes connections. */
  async start(): Promise<void> {
    if (this.child) return;
    const child = spawn(
      'mariadbd',
      [
        '--no-defaults',
        `--datadir=${join(this.dir, 'data')}`,
        `--port=${this.port}`,
        `--socket=${join(this.dir, 'mariadb.sock')}`,
        `--pid-file=${join(this.dir, 'mariadb.pid')}`,
        '--bind-address=127.0.0.1',
        '--skip-name-resolve',
        ...asUser(),
        ...SMALL,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    child.stderr!.on('data', (d) => (log = (log + d).slice(-8192)));
    this.child = child;
    try {
      await eventually(async () => {
        if (child.exitCode !== null) throw new Error(`mariadbd exited with ${child.exitCode}`);
        return reachable(this.port);
      }, 30_000, `mariadbd on ${this.port}`);
    } catch (err) {
      await this.stop();
      throw new Error(`${(err as Error).message}\n${log}`);
    }
  }

  /** SIGKILL, then waits until the port refuses connections. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    await eventually(async () => !(await reachable(this.port)), 10_000, 'mariadbd to stop');
  }

  /** Stops the server and deletes its data directory. */
  async remove(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
