import { expect } from 'chai';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { dropTestState, eventually, startTestService, uniqueName } from '../support/service.js';
import { giteaDelivery, TEST_WEBHOOK_SECRET } from '../support/gitea-delivery.js';

async function freePort(): Promise<number> {
  const srv = http.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

describe('process lifecycle', function () {
  this.timeout(60_000);
  let child: ChildProcess | null = null;
  const name = uniqueName();
  after(async () => {
    child?.kill('SIGKILL');
    await dropTestState(name);
  });

  it('finishes an in-flight request on SIGTERM, then exits 0', async () => {
    const port = await freePort();
    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'all'], {
      env: {
        ...process.env,
        PORT: String(port),
        DATABASE_URL: `mysql://root@127.0.0.1:3306/aiworker_test_${name}`,
        REDIS_PREFIX: `aiwtest_${name}`,
        GITEA_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
        SHUTDOWN_GRACE_SECONDS: '15',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let logs = '';
    child.stdout!.on('data', (d) => (logs += d));
    child.stderr!.on('data', (d) => (logs += d));
    const exited = new Promise<number | null>((resolve) => child!.on('exit', resolve));
    await eventually(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok, 30_000, 'service up');

    const d = giteaDelivery('push.task-branch');
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/webhooks/gitea', headers: { ...d.headers, 'content-length': Buffer.byteLength(d.body) } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      // Half the body now, SIGTERM, then the rest: the request is in flight during shutdown.
      const half = Math.floor(d.body.length / 2);
      req.write(d.body.slice(0, half));
      setTimeout(() => {
        child!.kill('SIGTERM');
        setTimeout(() => req.end(d.body.slice(half)), 300);
      }, 100);
    });
    const res = await answer;
    expect(res.status, res.body).to.equal(202);
    expect(await exited).to.equal(0);
    expect(logs).to.include('shutdown complete');
    const lines = logs.split('\n').filter(Boolean);
    for (const line of lines) expect(() => JSON.parse(line), line).to.not.throw();
    expect(logs).to.not.include(TEST_WEBHOOK_SECRET);
    child = null;
  });

  it('stops even while a client stalls mid-request: its connection is cut after half the grace period', async () => {
    const svc = await startTestService({ SHUTDOWN_GRACE_SECONDS: '2' });
    const { port } = new URL(svc.url);
    const stalled = net.connect(Number(port), '127.0.0.1');
    await new Promise((r) => stalled.once('connect', r));
    const closed = new Promise((r) => stalled.once('close', r));
    stalled.on('error', () => {});
    // Headers and part of the body, then nothing: without a cut the server would wait for it (minutes).
    stalled.write('POST /webhooks/gitea HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":');
    await new Promise((r) => setTimeout(r, 100));
    const stopped = svc.cleanup().then(() => 'stopped');
    const outcome = await Promise.race([stopped, new Promise((r) => setTimeout(() => r('still waiting'), 8000))]);
    expect(outcome).to.equal('stopped');
    await closed;
  });
});
