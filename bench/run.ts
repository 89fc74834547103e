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
  rows.push(['ingest throughput, bare Koa + signature check (50 conns)', `${fmt(ingest.bare.perSecond, 0)} req/s`, `p99 ${fmt(ingest.bare.p99, 2)} ms`]);
  rows.push(['ingest throughput, aiworker POST /webhooks/gitea (50 conns)', `${fmt(ingest.aiworker.perSecond, 0)} req/s`, `p99 ${fmt(ingest.aiworker.p99, 2)} ms, p50 ${fmt(ingest.aiworker.p50, 2)} ms`]);
  rows.push(['ingest ratio aiworker / bare', fmt(ingest.ratio, 2), 'target >= 0.5, p99 < 25 ms']);
  notes.push(`ingest statuses: bare ${JSON.stringify(ingest.bare.statuses)}, aiworker ${JSON.stringify(ingest.aiworker.statuses)}`);

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
    'resident memory of the process running the service during these runs',
    `peak ${fmt(rssPeak / 2 ** 20)} MiB`,
    `before ${fmt(rssBefore / 2 ** 20)} MiB, after ${fmt(rssAfter / 2 ** 20)} MiB (the ingest load comes from another process; the MCP clients and webhook sender of the other runs share this one)`,
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
