import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { verifySignature } from '../src/gitea/signature.js';
import { readRawBody } from '../src/http/body.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { TEST_WEBHOOK_SECRET } from '../test/support/gitea-delivery.js';
import { startTestService } from '../test/support/service.js';
import type { LoadResult } from './load.js';

const run = promisify(execFile);

/** Drives the load from a separate process (see load-child.ts). */
async function loadFromChild(url: string, total: number, connections: number, offset: number): Promise<LoadResult> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', new URL('./load-child.ts', import.meta.url).pathname, url, String(total), String(connections), String(offset)], {
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout) as LoadResult;
}

/** The baseline: a Koa endpoint that only reads the body and checks the signature. */
async function bareEndpoint(): Promise<{ url: string; close(): Promise<void> }> {
  const app = new Koa();
  app.use(async (ctx) => {
    const raw = await readRawBody(ctx, 5 * 1024 * 1024);
    const ok = await verifySignature(raw, { giteaSignature: ctx.get('x-gitea-signature'), hubSignature256: ctx.get('x-hub-signature-256') }, [TEST_WEBHOOK_SECRET]);
    ctx.status = ok ? 202 : 401;
    ctx.body = { ok };
  });
  const server = http.createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/gitea`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export interface IngestBench {
  bare: LoadResult;
  aiworker: LoadResult;
  ratio: number;
}

export async function benchIngest(total = 5000, connections = 50): Promise<IngestBench> {
  const bare = await bareEndpoint();
  // The web role alone: ingest is what is measured; workers would compete for the same two cores.
  const svc = await startTestService({ ROLE: 'web' });
  try {
    // Warm-up of both, then the measured runs; every delivery is distinct.
    await loadFromChild(bare.url, 500, connections, 0);
    await loadFromChild(`${svc.url}/webhooks/gitea`, 500, connections, 0);
    const bareResult = await loadFromChild(bare.url, total, connections, 1000);
    const aiworker = await loadFromChild(`${svc.url}/webhooks/gitea`, total, connections, 1000 + total);
    return { bare: bareResult, aiworker, ratio: aiworker.perSecond / bareResult.perSecond };
  } finally {
    await bare.close();
    await svc.cleanup();
  }
}
