import http from 'node:http';
import Koa from 'koa';
import { verifySignature } from '../src/gitea/signature.js';
import { readRawBody } from '../src/request/raw-body.js';
import { TEST_WEBHOOK_SECRET } from '../test/support/gitea-delivery.js';

/**
 * The ingest benchmark's baseline, in its own process: a Koa endpoint that only reads the body and
 * checks the signature (the same functions aiworker uses), then answers 202.
 */
const app = new Koa();
app.use(async (ctx) => {
  const raw = await readRawBody(ctx, 5 * 1024 * 1024);
  const ok = await verifySignature(raw, { giteaSignature: ctx.get('x-gitea-signature'), hubSignature256: ctx.get('x-hub-signature-256') }, [TEST_WEBHOOK_SECRET]);
  ctx.status = ok ? 202 : 401;
  ctx.body = { ok };
});
const server = http.createServer(app.callback());
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
