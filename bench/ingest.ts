import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort } from '../test/support/redis-server.js';
import type { LoadResult } from './load.js';
import { cpuMsOf, minorFaultsOf, peakResidentMiB, pidOf, residentMiB, startServer, type BenchServer } from './processes.js';
import { startAiworker, type Aiworker } from './service.js';

const run = promisify(execFile);

/** CPU time per request (µs) of each process taking part, over one measured load; null where unknown. */
export interface CpuPerRequest {
  server: number | null;
  mysqld: number | null;
  redis: number | null;
  loadGenerator: number;
  /** Minor page faults of the server per request: fresh memory costs dearly on virtual machines. */
  serverPageFaults: number | null;
}

export interface IngestRun extends LoadResult {
  cpu: CpuPerRequest;
}

export interface IngestRound {
  bare: IngestRun;
  aiworker: IngestRun;
  ratio: number;
}

export interface IngestBench {
  rounds: IngestRound[];
  /** The round with the median ratio: its figures are the ones reported. */
  median: IngestRound;
  /** Resident memory of the web role (MiB): after the last round, and the most it had at any time. */
  webRss: { after: number | null; peak: number | null };
}

/** Drives the load from a separate process (see load-child.ts), so it shares no event loop with what it measures. */
export async function loadFromChild(url: string, total: number, connections: number, offset: number, kind = 'labeled'): Promise<LoadResult & { loadCpuMs: number }> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', new URL('./load-child.ts', import.meta.url).pathname, url, String(total), String(connections), String(offset), kind], {
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout) as LoadResult & { loadCpuMs: number };
}

async function measure(server: BenchServer, others: { mysqld: number | null; redis: number | null }, total: number, connections: number, offset: number): Promise<IngestRun> {
  const faultsBefore = minorFaultsOf(server.pid);
  const before = { server: cpuMsOf(server.pid), mysqld: others.mysqld && cpuMsOf(others.mysqld), redis: others.redis && cpuMsOf(others.redis) };
  const result = await loadFromChild(`${server.url}/webhooks/gitea`, total, connections, offset);
  const perRequest = (pid: number | null, start: number | null | undefined) => {
    const end = pid === null ? null : cpuMsOf(pid);
    return end === null || start === null || start === undefined ? null : ((end - start) * 1000) / total;
  };
  const { loadCpuMs, ...load } = result;
  const faultsAfter = minorFaultsOf(server.pid);
  return {
    ...load,
    cpu: {
      server: perRequest(server.pid, before.server),
      mysqld: perRequest(others.mysqld, before.mysqld),
      redis: perRequest(others.redis, before.redis),
      loadGenerator: (loadCpuMs * 1000) / total,
      serverPageFaults: faultsBefore === null || faultsAfter === null ? null : (faultsAfter - faultsBefore) / total,
    },
  };
}

/**
 * Ingest throughput and latency at `connections` concurrent keep-alive connections: aiworker's
 * POST /webhooks/gitea (the web role, in its own process, on MySQL and Redis) against a bare Koa
 * endpoint that only checks the signature (also its own process). Both are warmed up first, then
 * measured in alternating rounds, so a slow spell of a shared machine falls on both; each round's
 * ratio compares two loads run seconds apart, and the median round is reported.
 */
export async function benchIngest(opts = { total: 5000, connections: 50, rounds: 3, warmup: 3000 }): Promise<IngestBench> {
  const others = { mysqld: await pidOf('mariadbd'), redis: await pidOf('redis-server') };
  const bare = await startServer('bench/bare-endpoint.ts', [], {}, await freePort(), '/');
  let aiworker: Aiworker | null = null;
  try {
    // The web role alone: ingest is what is measured; workers would compete for the same cores.
    aiworker = await startAiworker('serve');
    let offset = 0;
    const next = (n: number) => ((offset += n), offset - n);
    await loadFromChild(`${bare.url}/webhooks/gitea`, opts.warmup, opts.connections, next(opts.warmup));
    await loadFromChild(`${aiworker.url}/webhooks/gitea`, opts.warmup, opts.connections, next(opts.warmup));
    const rounds: IngestRound[] = [];
    for (let i = 0; i < opts.rounds; i++) {
      const b = await measure(bare, { mysqld: null, redis: null }, opts.total, opts.connections, next(opts.total));
      const a = await measure(aiworker, others, opts.total, opts.connections, next(opts.total));
      rounds.push({ bare: b, aiworker: a, ratio: a.perSecond / b.perSecond });
    }
    const median = [...rounds].sort((x, y) => x.ratio - y.ratio)[Math.floor(rounds.length / 2)];
    return { rounds, median, webRss: { after: residentMiB(aiworker.pid), peak: peakResidentMiB(aiworker.pid) } };
  } finally {
    await bare.stop();
    await aiworker?.close();
  }
}
