import type { HandlerDeps, WebhookContext } from '../types.js';

/**
 * A polite refusal on the PR or issue, posted once per delivery however often it is handled
 * (recorded like a command's reply). A failure to post it must not fail the delivery.
 */
export async function refuse(ctx: WebhookContext, deps: HandlerDeps, index: number, text: string): Promise<void> {
  try {
    const earlier = (await deps.commandReplies.of(ctx.id)).get(0);
    if (earlier?.posted) return;
    if (!earlier) await deps.commandReplies.record(ctx.id, 0, text);
    const commentId = await deps.replies.post(ctx.project, index, earlier?.body ?? text);
    await deps.commandReplies.markPosted(ctx.id, 0, commentId);
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, 'could not post refusal');
  }
}
