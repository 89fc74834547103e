import type { TaskWriter, TaskColumns } from './writer.js';

export interface HeadChange {
  actor: string;
  deliveryId: string;
  /** Link columns learnt with the head (branch, pull request). */
  link?: TaskColumns;
}

/**
 * New commits on a task: a different head makes an approval stale and takes down a
 * ready_to_test until the new head's preview is up; the first push starts a backlog task. The
 * same head seen again (a late push or sync delivery) changes nothing, so arrival order does not matter.
 */
export function recordHead(writer: TaskWriter, taskId: number, sha: string, change: HeadChange): Promise<{ moved: boolean; changedHead: boolean }> {
  return writer.withTask(taskId, async (tx, row) => {
    const changedHead = row.head_sha !== sha;
    const patch: TaskColumns = { ...change.link, head_sha: sha };
    const common = { source: 'gitea' as const, actor: change.actor, deliveryId: change.deliveryId };
    if (changedHead && (row.state === 'approved' || row.state === 'ready_to_test')) {
      const reason = row.state === 'approved' ? 'new commits after approval: the approval is stale' : 'new commits: waiting for their preview';
      await writer.apply(tx, row, 'in_progress', { ...common, reason, patch: { ...patch, preview_url: null } });
      return { moved: true, changedHead };
    }
    if (row.state === 'backlog') {
      await writer.apply(tx, row, 'in_progress', { ...common, reason: 'first push to the task branch', patch });
      return { moved: true, changedHead };
    }
    await writer.writeColumns(tx, row, patch);
    return { moved: false, changedHead };
  });
}
