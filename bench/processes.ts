import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** The fields of /proc/<pid>/stat after the command name (field 3 onwards), or null (not Linux). */
function procStat(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  } catch {
    return null;
  }
}

/** CPU time (ms) a process has used so far (utime + stime); null where there is no /proc. */
export function cpuMsOf(pid: number): number | null {
  const fields = procStat(pid);
  return fields && ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** Minor page faults a process has taken so far; null where there is no /proc. */
export function minorFaultsOf(pid: number): number | null {
  const fields = procStat(pid);
  return fields && Number(fields[7]);
}

/** A size line of /proc/<pid>/status in MiB (VmRSS: resident now, VmHWM: the peak so far); null where there is none. */
function statusMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Resident memory of a process now, in MiB. */
export const residentMiB = (pid: number) => statusMiB(pid, 'VmRSS');
/** The most resident memory a process has had, in MiB. */
export const peakResidentMiB = (pid: number) => statusMiB(pid, 'VmHWM');

/** The pid of a running program by its exact name (mariadbd, redis-server), or null. */
export async function pidOf(program: string): Promise<number | null> {
  try {
    const { stdout } = await run('pgrep', ['-o', '-x', program]);
    const pid = Number(stdout.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** A server of the benchmark in its own process (from the sources, as `npm run dev` runs them). */
export interface BenchServer {
  pid: number;
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts `node --import tsx <script> ...args` (or plain `node`, for compiled JavaScript) with PORT
 * set, and waits until `readyPath` answers below 500.
 */
export async function startServer(
  script: string,
  args: string[],
  env: Record<string, string>,
  port: number,
  readyPath: string,
  opts: { node?: boolean } = {},
): Promise<BenchServer> {
  const child: ChildProcess = spawn(process.execPath, [...(opts.node ? [] : ['--import', 'tsx']), script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode} before listening`);
    const status = await fetch(`${base}${readyPath}`).then((r) => r.status, () => null);
    if (status !== null && status < 500) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${script} did not listen within 60 s`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    pid: child.pid!,
    url: base,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
