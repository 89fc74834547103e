import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort } from '../test/support/redis-server.js';
import { processEnv } from '../test/support/processes.js';
import { dropTestState, uniqueName } from '../test/support/service.js';
const run = promisify(execFile);
const name = uniqueName(); const port = await freePort();
const child = spawn(process.execPath, ['--perf-basic-prof', '--import', 'tsx', 'src/cli.ts', 'serve'], { env: { ...process.env, ...processEnv(name), PORT: String(port) }, stdio: 'inherit' });
for (;;) { if ((await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, () => null)) === 200) break; await new Promise((r) => setTimeout(r, 200)); }
const url = `http://127.0.0.1:${port}/webhooks/gitea`;
await run(process.execPath, ['--import', 'tsx', 'bench/load-child.ts', url, '3000', '50', '0']);
const perf = spawn('perf', ['record', '-e', process.env.EV ?? 'page-faults', '-g', '-p', String(child.pid), '-o', '/tmp/scratch/perf.data'], { stdio: 'inherit' });
await new Promise((r) => setTimeout(r, 500));
const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/load-child.ts', url, '5000', '50', '3000']);
console.log(JSON.parse(stdout).perSecond);
perf.kill('SIGINT'); await new Promise((r) => perf.once('exit', r));
child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); await dropTestState(name); process.exit(0);
