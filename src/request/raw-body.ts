import type { Context } from 'koa';
import { AppError, badRequest, payloadTooLarge } from '../errors.js';

/**
 * Reads the body's exact bytes, refusing it with 413 as soon as it passes the limit (not after
 * buffering it all). Only the webhook intake reads bodies this way: Gitea's signature covers the
 * bytes as sent, before any decoding. REST and MCP bodies are read by koa-body (body.ts).
 */
export async function readRawBody(ctx: Context, limit: number): Promise<Buffer> {
  const declared = Number(ctx.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    ctx.req.resume();
    throw payloadTooLarge(limit);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        ctx.req.resume();
        throw payloadTooLarge(limit);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    // The client went away mid-body, or sent chunks HTTP cannot frame: its fault, not a server error.
    throw badRequest(`the request body could not be read: ${(err as Error).message}`);
  }
  return Buffer.concat(chunks, size);
}
