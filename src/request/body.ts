import type { Context } from 'koa';
import { AppError, badRequest, payloadTooLarge, unsupportedMediaType } from '../errors.js';

/** Reads the raw body, refusing it with 413 as soon as it passes the limit (not after buffering it all). */
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

export function mediaType(ctx: Context): string {
  return (ctx.get('content-type').split(';')[0] ?? '').trim().toLowerCase();
}

export function parseJson(raw: Buffer | string, what = 'body'): unknown {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** JSON bodies of the REST API; an empty body counts as `{}`. */
export async function readJsonBody(ctx: Context, limit = 1024 * 1024): Promise<unknown> {
  const raw = await readRawBody(ctx, limit);
  if (raw.length === 0) return {};
  const type = mediaType(ctx);
  if (type !== 'application/json' && !type.endsWith('+json')) throw unsupportedMediaType(type);
  return parseJson(raw);
}

