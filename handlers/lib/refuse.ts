import type { HandlerDeps, WebhookContext } from '../types.js';
import { replyOnce } from './reply-once.js';

/**
 * A polite refusal on the PR or issue, posted once per delivery however often it is handled.
 * A failure to post it must not fail the delivery.
 */
export async function refuse(ctx: WebhookContext, deps: Pick<HandlerDeps, 'commandReplies' | 'replies'>, index: number, text: string): Promise<void> {
  try {
    await replyOnce({ ctx, deps, index, produce: async () => text });
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, 'could not post refusal');
  }
}
