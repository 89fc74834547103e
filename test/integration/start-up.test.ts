import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { freePort } from '../support/local-server.js';
import { startKubeApiServer } from '../support/kube-api-server.js';
import { processEnv } from '../support/processes.js';
import { dropTestState, eventually, uniqueName } from '../support/service.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A checkout as a fresh clone has it: the repository's files (as they are in this working tree)
 * and no build. node_modules is linked from this checkout instead of installed again, which
 * would only cost minutes.
 */
function freshCheckout(): string {
  const dir = mkdtempSync(join(tmpdir(), 'aiworker-checkout-'));
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT })
    .toString('utf8')
    .split('\0')
    .filter((f) => f && existsSync(join(ROOT, f)));
  for (const file of files) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(join(ROOT, file), join(dir, file));
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** `npm start` in `cwd`, in a process group of its own so the whole of it can be stopped. */
function npmStart(cwd: string, env: Record<string, string>): Started {
  const child = spawn('npm', ['start'], { cwd, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-32_768)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-32_768)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

describe('npm start', function () {
  this.timeout(600_000);
  let checkout: string;
  before(() => {
    checkout = freshCheckout();
  });
  after(() => rmSync(checkout, { recursive: true, force: true }));

  // A Redis on a documentation address (TEST-NET-1) that is not local: had the services step run,
  // it would have said that Redis is not reachable.
  const unreachableRedis = 'redis://192.0.2.1:6379';
  for (const [name, value] of [['DATABASE_URL', 'not-a-url'], ['PORT', 'abc'], ['PUBLIC_URL', 'nope']] as const) {
    it(`${name}=${value} stops it before services and the build, naming ${name}`, async () => {
      const run = npmStart(checkout, { [name]: value, REDIS_URL: unreachableRedis });
      expect(await run.exited).to.equal(2);
      expect(run.output()).to.match(new RegExp(`${name}: must be`));
      expect(run.output()).not.to.include('ensure-services');
      expect(existsSync(join(checkout, '.build')), 'a build was started').to.equal(false);
    });
  }

  it('four at once from one fresh checkout (two web, two workers) all become healthy, from one build that carries the board and talks to Kubernetes', async () => {
    const name = uniqueName();
    const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
    const roles = ['web', 'web', 'worker', 'worker'];
    // The build bundles the Kubernetes client with the module that uses it: a Kubernetes API to talk to proves the bundle works.
    const kube = await startKubeApiServer();
    const KUBECONFIG = kube.writeKubeconfig(join(checkout, 'kubeconfig'));
    const runs = roles.map((role, i) => npmStart(checkout, processEnv(name, { ROLE: role, PORT: String(ports[i]), LOG_LEVEL: 'warn', KUBECONFIG })));
    try {
      for (const [i, port] of ports.entries()) {
        await eventually(
          async () => {
            const run = runs[i]!;
            if (run.child.exitCode !== null) throw new Error(`${roles[i]} on ${port} exited: ${run.output()}`);
            return (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok;
          },
          540_000,
          `${roles[i]} on port ${port} to be healthy`,
        );
      }
      // The board is part of the build: the web role serves it from there.
      for (const port of ports.slice(0, 2)) {
        const page = await fetch(`http://127.0.0.1:${port}/`);
        expect(page.status).to.equal(200);
        expect(await page.text()).to.match(/board-[A-Z0-9]+\.js/);
      }
      for (const port of ports) {
        await eventually(
          async () => (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()).checks.kubernetes.status === 'ok',
          30_000,
          `the process on ${port} to reach Kubernetes`,
        );
      }
      const builds = readdirSync(join(checkout, '.build'));
      expect(builds, 'one build, made by one of them').to.have.length(1);
      expect(builds[0]).to.match(/^[0-9a-f]{16}$/);
      // One of them built; the others waited for that build and ran it.
      expect(runs.map((r) => r.output()).join('').match(/building the current sources/g)).to.have.length(1);
    } finally {
      for (const run of runs) if (run.child.exitCode === null) process.kill(-run.child.pid!, 'SIGTERM');
      await Promise.all(runs.map((r) => r.exited));
      await dropTestState(name);
      await kube.close();
    }
  });
});
