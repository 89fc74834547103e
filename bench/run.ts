import { writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import { benchIngest } from './ingest.js';
import { benchPreviewLatency } from './preview-latency.js';
import { benchClaims } from './claims.js';

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/** `npm run bench`: every figure from one run on this machine, written to docs/benchmarks.md. */
async function main(): Promise<void> {
  const rows: string[][] = [];
  const notes: string[] = [];
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 100);

  const ingest = await benchIngest();
  const { bare, aiworker, ratio } = ingest.median;
  const us = (n: number | null) => (n === null ? 'n/a' : `${fmt(n, 0)} µs`);
  const cpu = (r: typeof bare) =>
    `CPU per request: server ${us(r.cpu.server)}, mysqld ${us(r.cpu.mysqld)}, redis ${us(r.cpu.redis)}, load generator ${us(r.cpu.loadGenerator)}; server page faults per request ${r.cpu.serverPageFaults === null ? 'n/a' : fmt(r.cpu.serverPageFaults, 2)}`;
  rows.push(['ingest throughput, bare Koa + signature check (50 conns, own process)', `${fmt(bare.perSecond, 0)} req/s`, `p50 ${fmt(bare.p50, 2)} ms, p99 ${fmt(bare.p99, 2)} ms; ${cpu(bare)}`]);
  rows.push(['ingest throughput, aiworker POST /webhooks/gitea (50 conns, web role in its own process)', `${fmt(aiworker.perSecond, 0)} req/s`, `p50 ${fmt(aiworker.p50, 2)} ms, p99 ${fmt(aiworker.p99, 2)} ms; ${cpu(aiworker)}`]);
  rows.push([
    'ingest ratio aiworker / bare (median of alternating rounds)',
    fmt(ratio, 2),
    `every round: ${ingest.rounds.map((r) => fmt(r.ratio, 2)).join(', ')}; target >= 0.5 with p99 < 25 ms`,
  ]);
  notes.push(`ingest statuses: bare ${JSON.stringify(bare.statuses)}, aiworker ${JSON.stringify(aiworker.statuses)}`);
  for (const [i, r] of ingest.rounds.entries()) {
    notes.push(`ingest round ${i + 1}: bare ${fmt(r.bare.perSecond, 0)} req/s (p99 ${fmt(r.bare.p99, 1)} ms), aiworker ${fmt(r.aiworker.perSecond, 0)} req/s (p99 ${fmt(r.aiworker.p99, 1)} ms), ratio ${fmt(r.ratio, 2)}`);
  }

  const preview = await benchPreviewLatency(100);
  rows.push([
    'PR opened -> ready_to_test, end to end (webhook, queue, job, feed; Kubernetes and Gitea answered locally)',
    `p50 ${fmt(preview.p50)} ms`,
    `p99 ${fmt(preview.p99)} ms over ${preview.samples} PRs; target p50 < 100 ms; preview debounce set to 0`,
  ]);

  const claims = await benchClaims(50, 500);
  rows.push(['get_next_task over MCP HTTP, 50 agents, 500 tasks', `${fmt(claims.claimsPerSecond)} claims/s`, `${fmt(claims.seconds, 2)} s, every task claimed once`]);

  clearInterval(sampler);
  const rssAfter = process.memoryUsage().rss;
  rows.push([
    'resident memory of the process running the service in the latency and claim runs',
    `peak ${fmt(rssPeak / 2 ** 20)} MiB`,
    `before ${fmt(rssBefore / 2 ** 20)} MiB, after ${fmt(rssAfter / 2 ** 20)} MiB (the MCP clients and webhook sender of those runs share this process; the ingest runs use processes of their own)`,
  ]);

  const table = ['| measure | value | notes |', '|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  const doc = `# Benchmarks\n\nMeasured by \`npm run bench\` on ${new Date().toISOString()} (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}); every figure comes from the same run, on loopback, with MariaDB and Redis on this machine.\n\n${table}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`;
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
