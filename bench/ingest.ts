import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { verifySignature } from '../src/gitea/signature.js';
import { readRawBody } from '../src/http/body.js';
import { giteaDelivery, TEST_WEBHOOK_SECRET, type Delivery } from '../test/support/gitea-delivery.js';
import { startTestService } from '../test/support/service.js';
import { load, type LoadResult } from './load.js';

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
  // Distinct deliveries built up front so building them is not measured.
  const deliveries: Delivery[] = Array.from({ length: total * 2 + 200 }, (_, i) =>
    giteaDelivery('issues.labeled', { mutate: (p) => (p.issue.number = 100_000 + i) }),
  );
  const bare = await bareEndpoint();
  // The web role alone: ingest is what is measured; workers would compete for the same two cores.
  const svc = await startTestService({ ROLE: 'web' });
  try {
    await load(bare.url, 200, connections, (i) => deliveries[i]);
    await load(`${svc.url}/webhooks/gitea`, 200, connections, (i) => deliveries[i]);
    const bareResult = await load(bare.url, total, connections, (i) => deliveries[200 + i]);
    const aiworker = await load(`${svc.url}/webhooks/gitea`, total, connections, (i) => deliveries[200 + total + i]);
    return { bare: bareResult, aiworker, ratio: aiworker.perSecond / bareResult.perSecond };
  } finally {
    await bare.close();
    await svc.cleanup();
  }
}
