import { FINISHED_STATES, type TaskState } from './states.js';
import type { TaskWriter } from './writer.js';
import { changesRequestedAt } from './feedback.js';

export interface PreviewReadiness {
  /** The preview is of the task's head and the task is not finished: it is the one to show. */
  current: boolean;
  /** The task moved to ready_to_test. */
  moved: boolean;
  state: TaskState;
  head: string | null;
  previewCommentId: number | null;
}

/**
 * A preview of `sha` is up at `url`. If it is of the task's head, an in_progress task becomes
 * ready_to_test (announced with task:ready_to_test); a task in another unfinished state keeps
 * it (only in_progress may enter ready_to_test, SPEC §2) but shows the URL, and so does one whose
 * reviewer asked for changes at this head while it rolled out. A push during the rollout made the
 * preview stale: the deploy queued for the new head takes over.
 */
export function previewReady(writer: TaskWriter, taskId: number, sha: string, url: string, opts: { actor: string; reason: string }): Promise<PreviewReadiness> {
  return writer.withTask(taskId, async (tx, row) => {
    const current = row.head_sha === sha && !FINISHED_STATES.has(row.state);
    // Changes asked for at this head while it rolled out: its preview is up, but not ready to test.
    const held = current && row.state === 'in_progress' && (await changesRequestedAt(tx, row.id, sha));
    let moved = false;
    if (current && row.state === 'in_progress' && !held) {
      await writer.apply(tx, row, 'ready_to_test', { source: 'system', actor: opts.actor, reason: opts.reason, patch: { preview_url: url } });
      await tx.emit({
        type: 'task:ready_to_test',
        projectId: row.project_id,
        taskId: row.id,
        actor: opts.actor,
        reason: opts.reason,
        payload: { taskId: row.id, previewUrl: url },
      });
      moved = true;
    } else if (current) {
      await writer.writeColumns(tx, row, { preview_url: url });
    }
    const previewCommentId = row.preview_comment_id === null ? null : Number(row.preview_comment_id);
    return { current, moved, state: row.state, head: row.head_sha, previewCommentId };
  });
}
