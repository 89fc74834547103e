import type { RecordedReply } from '../../src/gitea/command-replies.js';
import { replyMark } from '../../src/gitea/replies.js';
import type { HandlerDeps, WebhookContext } from '../types.js';

/**
 * Reply `position` of a delivery: what produces it (a command run, an answer passed on) happens
 * once, and the reply is recorded before it is posted, so handling the delivery again (a retry
 * after Gitea failed mid-way, a replay, a worker that died mid-reply) posts only what is still
 * missing. A reply recorded but not noted as posted may have reached Gitea all the same (the worker
 * died between the two): its hidden mark is looked for on the issue before it is posted again.
 * `recorded` is what `deps.commandReplies.of(ctx.id)` read for this handling.
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
  const commentId = await deps.replies.postOnce(ctx.project, index, body, replyMark(`delivery=${ctx.id}:${position}`), !!earlier);
  await deps.commandReplies.markPosted(ctx.id, position, commentId);
}
