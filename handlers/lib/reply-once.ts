import type { RecordedReply } from '../../src/gitea/command-replies.js';
import { replyMark } from '../../src/gitea/replies.js';
import type { HandlerDeps, WebhookContext } from '../types.js';

export interface ReplyOnce {
  ctx: WebhookContext;
  deps: Pick<HandlerDeps, 'commandReplies' | 'replies'>;
  /** The PR or issue the reply goes on. */
  index: number;
  /** What `deps.commandReplies.of(ctx.id)` read for this handling; read here when not given. */
  recorded?: Map<number, RecordedReply>;
  /** Which reply of the delivery this is (a comment's commands are answered in order); 0 by default. */
  position?: number;
  /** Runs what the reply reports (a command, an answer passed on) and returns its text. */
  produce: () => Promise<string>;
}

/**
 * Reply `position` of a delivery: what produces it (a command run, an answer passed on) happens
 * once, and the reply is recorded before it is posted, so handling the delivery again (a retry
 * after Gitea failed mid-way, a replay, a worker that died mid-reply) posts only what is still
 * missing. A reply recorded but not noted as posted may have reached Gitea all the same (the worker
 * died between the two): its hidden mark is looked for on the issue before it is posted again.
 */
export async function replyOnce({ ctx, deps, index, recorded, position = 0, produce }: ReplyOnce): Promise<void> {
  const earlier = (recorded ?? (await deps.commandReplies.of(ctx.id))).get(position);
  if (earlier?.posted) return;
  const body = earlier ? earlier.body : await produce();
  if (!earlier) await deps.commandReplies.record(ctx.id, position, body);
  const commentId = await deps.replies.postOnce(ctx.project, index, body, replyMark(`delivery=${ctx.id}:${position}`), !!earlier);
  await deps.commandReplies.markPosted(ctx.id, position, commentId);
}
