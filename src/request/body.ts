import type { Context, Middleware } from 'koa';
import { koaBody } from 'koa-body';
import { AppError, badRequest, payloadTooLarge, unsupportedMediaType } from '../errors.js';

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

/** What koa-body (co-body, raw-body) fails with: `type` names a read failure, a SyntaxError a parse failure. */
type BodyFailure = Error & { status?: number; type?: string };

function answerTo(err: BodyFailure, ctx: Context, limit: number, what: string): AppError {
  if (err.type === 'entity.too.large') {
    // Drain what the client still sends, so the connection can carry the answer and the next request.
    ctx.req.resume();
    return payloadTooLarge(limit);
  }
  if (err instanceof SyntaxError) {
    // koa-body's parser refuses a "__proto__" key outright (prototype poisoning), before any validation.
    if (/prototype property/.test(err.message)) return badRequest(`${what} is refused: it holds a "__proto__" key`);
    return badRequest(`${what} is not valid JSON: ${err.message}`);
  }
  if (err.status === 415) return new AppError(415, 'unsupported_media_type', err.message);
  // The client went away mid-body, or sent what HTTP cannot frame: its fault, not a server error.
  return badRequest(`the request body could not be read: ${err.message}`);
}

/**
 * A reader of JSON bodies through koa-body, made once per limit: it reads and parses a body whose
 * content type is one of `types` (one parse per body) and gives the value; undefined when the
 * request has a body of another type or none, and '' for an empty one. Failures are the API's
 * answers: 413 past the limit (declared or counted while reading), 400 for what is not JSON.
 */
export function jsonReader(o: { limit: number; types: string[]; what: string }): (ctx: Context) => Promise<unknown> {
  const parse = koaBody({
    json: true,
    jsonStrict: false,
    jsonLimit: o.limit,
    jsonTypes: o.types,
    urlencoded: false,
    text: false,
    multipart: false,
    onError: (err, ctx) => {
      throw answerTo(err, ctx, o.limit, o.what);
    },
  });
  const done = async () => undefined;
  return async (ctx) => {
    await parse(ctx, done);
    return ctx.request.body;
  };
}

const REST_LIMIT = 1024 * 1024;
const readRestJson = jsonReader({ limit: REST_LIMIT, types: ['application/json', '+json'], what: 'body' });

/**
 * The REST API's JSON bodies (application/json or any +json type), read by koa-body into
 * ctx.request.body before the route's handler runs; a request without a body, or with an empty
 * one, has `{}`. In the order the API always answered: 413 for a body declared larger than 1 MiB,
 * 415 for a body of another type, 400 for one that is not JSON.
 */
export const jsonBody: Middleware = async (ctx, next) => {
  if (Number(ctx.get('content-length')) > REST_LIMIT) {
    ctx.req.resume();
    throw payloadTooLarge(REST_LIMIT);
  }
  const body = await readRestJson(ctx);
  if (body === undefined && hasBody(ctx)) throw unsupportedMediaType(mediaType(ctx));
  if (body === undefined || body === '') ctx.request.body = {};
  await next();
};

function hasBody(ctx: Context): boolean {
  const length = ctx.get('content-length');
  return length === '' ? ctx.get('transfer-encoding') !== '' : Number(length) > 0;
}
