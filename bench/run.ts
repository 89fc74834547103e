import { writeFile, mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startGiteaServer } from '../test/support/gitea-server.js';
import { startKubeApiServer } from '../test/support/kube-api-server.js';
import { benchIngest, type IngestRun } from './ingest.js';
import { benchPreviewLatency } from './preview-latency.js';
import { benchClaims, type ClaimsBench } from './claims.js';
import { benchBacklog, type BacklogRun } from './backlog.js';
import { peakResidentMiB, residentMiB } from './processes.js';
import { build, startAiworker } from './service.js';

const fmt = (n: number | null, digits = 1) => (n !== null && Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const us = (n: number | null) => (n === null ? 'n/a' : `${fmt(n, 0)} µs`);
const met = (ok: boolean) => (ok ? 'met' : '**not met**');

/**
 * `npm run bench`: every row of the performance targets, measured in one run on this machine as a
 * user runs the product — compiled, default settings, each service in its own process, load from
 * other processes, memory of the service process alone — written to docs/benchmarks.md.
 */
async function main(): Promise<void> {
  await build();
  const rows: string[][] = [];
  const notes: string[] = [];

  const ingest = await benchIngest();
  const { bare, aiworker, ratio } = ingest.median;
  const cpu = (r: IngestRun) =>
    `CPU per delivery: service ${us(r.cpu.server)}, mysqld ${us(r.cpu.mysqld)}, redis ${us(r.cpu.redis)} (load generator ${us(r.cpu.loadGenerator)}); page faults per request ${fmt(r.cpu.serverPageFaults, 2)}`;

  // A one-key backlog, as a busy branch leaves it: two sizes show whether the rate holds with size.
  const backlogs = [await benchBacklog('mirror', 5000), await benchBacklog('mirror', 20000), await benchBacklog('project', 5000)];
  const drain = (b: BacklogRun) =>
    `${fmt(b.perSecond, 0)}/s (${b.deliveries.toLocaleString('en')} ${b.pushes === 'mirror' ? "of a mirror's pushes" : "of the project's own pushes"})`;
  const backlogOk = backlogs.every(
    (b) => b.inOrder && b.headIsLast !== false && (b.statuses.processed ?? 0) + (b.statuses.ignored ?? 0) === b.deliveries,
  );
  const backlogRow = [
    'a backlog on one ordering key (one busy branch), handled by one worker process',
    backlogs.map(drain).join('; '),
    'drained in order at ≥ 500 deliveries/s, whatever the backlog size',
    met(backlogOk && backlogs.every((b) => b.perSecond >= 500)),
    `the web role took the pushes (50 connections) with no worker running, then a worker started; rate over what was waiting when it was ready; ${backlogOk ? 'every delivery ended once, in stored order, the task on the last head' : '**order or outcome check failed**'}. A mirror's pushes end \`ignored\` once the project is looked up (what remains is the cost of keeping order); the project's own each move the task's head in a transaction of their own. CPU per delivery (worker, mysqld, redis): ${backlogs.map((b) => `${us(b.cpuUs.worker)}, ${us(b.cpuUs.mysqld)}, ${us(b.cpuUs.redis)}`).join('; ')}`,
  ];

  const gitea = await startGiteaServer();
  const kube = await startKubeApiServer();
  const kubeconfig = kube.writeKubeconfig(path.join(await mkdtemp(path.join(os.tmpdir(), 'aiworker-bench-')), 'kubeconfig'));
  const all = await startAiworker('all', { ...gitea.env(), KUBECONFIG: kubeconfig });
  try {
    const rssStart = residentMiB(all.pid);
    const preview = await benchPreviewLatency(all, gitea, 100);
    rows.push([
      'PR opened → `task:ready_to_test` on the feed (Kubernetes and Gitea answering at once)',
      `p50 ${fmt(preview.p50)} ms, p99 ${fmt(preview.p99)} ms`,
      'p50 ≤ 100 ms, p99 ≤ 300 ms',
      met(preview.p50 <= 100 && preview.p99 <= 300),
      `${preview.samples} PRs one after another, \`all\` process, default settings (a preview deploys at once: there is no debounce)`,
    ]);

    const claims = await benchClaims(all, 'lean', 50, 500);
    const sdkClaims = await benchClaims(all, 'sdk', 50, 500);
    const claimCpu = (c: ClaimsBench) =>
      `CPU per claim: service ${us(c.cpuUs.service)}, mysqld ${us(c.cpuUs.mysqld)}, redis ${us(c.cpuUs.redis)}, agents ${us(c.cpuUs.agents)}`;
    rows.push([
      '`get_next_task` over MCP HTTP, 50 agents each with its own token, 500 tasks',
      `${fmt(claims.claimsPerSecond, 0)} claims/s`,
      '≥ 500 claims/s, never a task twice',
      met(claims.claimsPerSecond >= 500),
      `${fmt(claims.seconds, 2)} s, every task claimed once; agents connect with the MCP SDK client, then send each tools/call as that client does over keep-alive HTTP (a light load generator); ${claimCpu(claims)}. With the SDK client's callTool for every call: ${fmt(sdkClaims.claimsPerSecond, 0)} claims/s, ${claimCpu(sdkClaims)}`,
    ]);

    rows.push(backlogRow);

    rows.push([
      'ingest on the web role vs a bare Koa endpoint that only checks the HMAC, same run, 50 connections',
      `${fmt(ratio, 2)}× (${fmt(aiworker.perSecond, 0)} vs ${fmt(bare.perSecond, 0)} req/s), p99 ${fmt(aiworker.p99)} ms`,
      '≥ 0.5×, p99 ≤ 25 ms',
      met(ratio >= 0.5 && aiworker.p99 <= 25),
      `median of alternating rounds (${ingest.rounds.map((r) => fmt(r.ratio, 2)).join(', ')}); aiworker ${cpu(aiworker)}; bare endpoint CPU per request ${us(bare.cpu.server)}`,
    ]);

    const rssAll = residentMiB(all.pid);
    const peakAll = peakResidentMiB(all.pid);
    const web = ingest.webRss;
    rows.push([
      'resident memory: the `all` process after the claim and preview load; the web role under ingest load',
      `${fmt(rssAll, 0)} MiB; ${fmt(web.peak, 0)} MiB`,
      '≤ 200 MB each',
      met((rssAll ?? Infinity) <= 200 && (web.peak ?? Infinity) <= 200),
      `\`all\`: ${fmt(rssStart, 0)} MiB before the loads, peak ${fmt(peakAll, 0)} MiB; web role: peak over the ingest rounds, ${fmt(web.after, 0)} MiB after them; RSS of the service process alone (/proc/<pid>/status)`,
    ]);
    notes.push(`ingest statuses: bare ${JSON.stringify(bare.statuses)}, aiworker ${JSON.stringify(aiworker.statuses)}`);
    for (const [i, r] of ingest.rounds.entries()) {
      notes.push(
        `ingest round ${i + 1}: bare ${fmt(r.bare.perSecond, 0)} req/s (p99 ${fmt(r.bare.p99)} ms), aiworker ${fmt(r.aiworker.perSecond, 0)} req/s (p99 ${fmt(r.aiworker.p99)} ms), ratio ${fmt(r.ratio, 2)}; aiworker CPU per delivery: service ${us(r.aiworker.cpu.server)}, mysqld ${us(r.aiworker.cpu.mysqld)}, redis ${us(r.aiworker.cpu.redis)}`,
      );
    }
  } finally {
    await all.close();
    await gitea.close();
    await kube.close();
  }

  const table = ['| figure | measured | target | | how |', '|---|---|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  const machine = `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`;
  const doc = `# Benchmarks\n\nMeasured by \`npm run bench\` on ${new Date().toISOString()} (${machine}); every figure comes from the same run, on loopback, with MariaDB and Redis on this machine. The service runs compiled (\`node dist/src/cli.js\`), with default settings, in its own process; load comes from other processes; memory is the service process's own resident set.\n\n${table}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`;
  await mkdir('docs', { recursive: true });
  await writeFile('docs/benchmarks.md', doc);
  console.log(table);
  for (const n of notes) console.log(`- ${n}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
