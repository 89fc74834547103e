/** A failure with the HTTP status and stable code that clients see; the single Koa error handler renders it. */
export class AppError extends Error {
  constructor(
    public readonly status: number,
    public readonly code: string,
    message: string,
    public readonly details?: unknown,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const badRequest = (message: string, details?: unknown) => new AppError(400, 'bad_request', message, details);
export const unauthorized = (message = 'missing or invalid bearer token') => new AppError(401, 'unauthorized', message);
export const forbidden = (message: string) => new AppError(403, 'forbidden', message);
export const notFound = (what: string) => new AppError(404, 'not_found', `${what} not found`);
export const conflict = (message: string, details?: unknown) => new AppError(409, 'conflict', message, details);
export const payloadTooLarge = (limit: number) =>
  new AppError(413, 'payload_too_large', `body is larger than the limit of ${limit} bytes`);
export const unsupportedMediaType = (type: string) =>
  new AppError(415, 'unsupported_media_type', `content type ${type || '(none)'} is not supported: send application/json or application/x-www-form-urlencoded`);
export const unavailable = (message: string) => new AppError(503, 'unavailable', message);

/** A transition the state machine refuses; REST answers 409, MCP a tool error, Gitea a reply comment. */
export class TransitionError extends AppError {
  constructor(
    public readonly taskId: number,
    public readonly from: string,
    public readonly to: string,
    reason?: string,
  ) {
    super(409, 'invalid_transition', reason ?? `task ${taskId} cannot move from ${from} to ${to}`, { taskId, from, to });
    this.name = 'TransitionError';
  }
}
