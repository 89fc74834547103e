import type { TaskService } from './service.js';

/**
 * An issue that stops asking for aiworker (closed, unassigned from the bot, its label removed)
 * takes its task back only while no work started on it: a task still in `backlog` is cancelled;
 * one an agent already took stays, since its branch and PR are the work. True when cancelled.
 */
export async function cancelUnstarted(
  tasks: Pick<TaskService, 'withTask' | 'applyTransition'>,
  taskId: number,
  opts: { actor: string; reason: string; deliveryId: string },
): Promise<boolean> {
  return tasks.withTask(taskId, async (tx, row) => {
    if (row.state !== 'backlog') return false;
    await tasks.applyTransition(tx, row, 'cancelled', { source: 'gitea', actor: opts.actor, reason: opts.reason, deliveryId: opts.deliveryId });
    return true;
  });
}
