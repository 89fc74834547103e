import type { HandlerDeps, WebhookContext } from '../types.js';

/** A polite refusal on the PR or issue; a failure to post it must not fail the delivery. */
export async function refuse(ctx: WebhookContext, deps: HandlerDeps, index: number, text: string): Promise<void> {
  try {
    await deps.replies.post(ctx.project, index, text);
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, 'could not post refusal');
  }
}
