import type { Context, Next } from 'koa';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';

/** The one place errors become responses: `{"error": {code, message}}`; stacks stay in the log. */
export function errorHandler(log: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.status = 404;
        ctx.body = { error: { code: 'not_found', message: `no route for ${ctx.method} ${ctx.path}` } };
      } else if ((ctx.status === 405 || ctx.status === 501) && (ctx.body === undefined || ctx.body === null)) {
        // The router's method answers: the same error shape as every other refusal, naming what is allowed.
        const allowed = ctx.response.get('Allow');
        const status = ctx.status;
        ctx.body = {
          error: {
            code: status === 405 ? 'method_not_allowed' : 'unknown_method',
            message: status === 405 ? `${ctx.method} is not allowed on ${ctx.path}${allowed ? ` (allowed: ${allowed})` : ''}` : `${ctx.method} is a method this service does not answer`,
          },
        };
        ctx.status = status;
      }
    } catch (err) {
      if (err instanceof AppError) {
        ctx.status = err.status;
        ctx.body = { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } };
        if (err.status >= 500) log.warn({ err, path: ctx.path }, err.message);
        return;
      }
      const status = (err as { status?: number }).status;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        ctx.status = status;
        ctx.body = { error: { code: 'bad_request', message: (err as Error).message } };
        return;
      }
      log.error({ err, method: ctx.method, path: ctx.path }, 'request failed');
      ctx.status = 500;
      ctx.body = { error: { code: 'internal', message: 'internal error' } };
    }
  };
}
