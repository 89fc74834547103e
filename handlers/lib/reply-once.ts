import type { RecordedReply } from '../../src/gitea/command-replies.js';
import type { HandlerDeps, WebhookContext } from '../types.js';

/**
 * Reply `position` of a delivery: what produces it (a command run, an answer passed on) happens
 * once, and the reply is recorded before it is posted, so handling the delivery again (a retry
 * after Gitea failed mid-way, a replay) posts only what is still missing. `recorded` is what
 * `deps.commandReplies.of(ctx.id)` read for this handling.
 */
export async function replyOnce(
  ctx: WebhookContext,
  deps: Pick<HandlerDeps, 'commandReplies' | 'replies'>,
  index: number,
  recorded: Map<number, RecordedReply>,
  position: number,
  produce: () => Promise<string>,
): Promise<void> {
  const earlier = recorded.get(position);
  if (earlier?.posted) return;
  const body = earlier ? earlier.body : await produce();
  if (!earlier) await deps.commandReplies.record(ctx.id, position, body);
  const commentId = await deps.replies.post(ctx.project, index, body);
  await deps.commandReplies.markPosted(ctx.id, position, commentId);
}
