import type { Tx } from './unit-of-work.js';
import { conflict } from '../errors.js';
import type { Task, TaskRow } from './model.js';
import { TASK_STATES } from './states.js';
import type { TaskWriter, TaskColumns } from './writer.js';

export interface HeadChange {
  actor: string;
  deliveryId: string | null;
  /** Link columns learnt with the head (branch, pull request). */
  link?: TaskColumns;
  /**
   * `pull_request.updated_at` when the head comes from the pull request (a delivery, or Gitea's
   * API); absent for pushes and branch creations, which carry no such time.
   */
  prUpdatedAt?: Date | null;
}

export interface HeadOutcome {
  moved: boolean;
  changedHead: boolean;
  /** Older than what the task holds: only missing links were written. */
  late: boolean;
}

/**
 * Gitea sends deliveries once, in any order: a pull request fact whose `updated_at` is older than
 * the newest one applied to the task is late, and rolls back nothing it says.
 */
function isLate(row: TaskRow, prUpdatedAt: Date | null | undefined): boolean {
  return !!prUpdatedAt && row.pr_updated_at !== null && prUpdatedAt.getTime() < new Date(row.pr_updated_at).getTime();
}

/** The links of a change the task does not have yet. */
function missingLinks(row: TaskRow, change: HeadChange): TaskColumns {
  return Object.fromEntries(Object.entries(change.link ?? {}).filter(([key]) => row[key as keyof TaskRow] === null));
}

/** States in which new commits only write columns (applyHead moves the others). */
const COMMITS_ONLY_WRITE = TASK_STATES.filter((state) => state !== 'approved' && state !== 'ready_to_test' && state !== 'backlog');

async function applyHead(writer: TaskWriter, tx: Tx, row: TaskRow, sha: string, change: HeadChange): Promise<HeadOutcome> {
  if (isLate(row, change.prUpdatedAt)) {
    // The links a late delivery carries are still true (the PR exists); its head is not the current one.
    await writer.writeColumns(tx, row, missingLinks(row, change));
    return { moved: false, changedHead: false, late: true };
  }
  const changedHead = row.head_sha !== sha;
  const patch: TaskColumns = { ...change.link, head_sha: sha, ...(change.prUpdatedAt ? { pr_updated_at: change.prUpdatedAt } : {}) };
  const common = { source: 'gitea' as const, actor: change.actor, deliveryId: change.deliveryId };
  if (changedHead && (row.state === 'approved' || row.state === 'ready_to_test')) {
    const reason = row.state === 'approved' ? 'new commits after approval: the approval is stale' : 'new commits: waiting for their preview';
    await writer.apply(tx, row, 'in_progress', { ...common, reason, patch: { ...patch, preview_url: null } });
    return { moved: true, changedHead, late: false };
  }
  if (row.state === 'backlog') {
    await writer.apply(tx, row, 'in_progress', { ...common, reason: 'first push to the task branch', patch });
    return { moved: true, changedHead, late: false };
  }
  await writer.writeColumns(tx, row, patch);
  return { moved: false, changedHead, late: false };
}

/**
 * New commits on a task: a different head makes an approval stale and takes down a
 * ready_to_test until the new head's preview is up; the first push starts a backlog task. The
 * same head seen again changes nothing, and a late pull request delivery changes no head.
 */
export function recordHead(writer: TaskWriter, taskId: number, sha: string, change: HeadChange): Promise<HeadOutcome> {
  return writer.withTask(taskId, (tx, row) => applyHead(writer, tx, row, sha, change));
}

/**
 * A pull request fact that is not about its head (closed, reopened): late when older than the
 * newest applied, else its time becomes the newest. True when late.
 */
export function notePullChange(writer: TaskWriter, taskId: number, prUpdatedAt: Date | null): Promise<boolean> {
  return writer.withTask(taskId, async (tx, row) => {
    if (isLate(row, prUpdatedAt)) return true;
    if (prUpdatedAt) await writer.writeColumns(tx, row, { pr_updated_at: prUpdatedAt });
    return false;
  });
}

/**
 * The head a review was given at, against the task's: `current` when it is the task's head (or
 * newer news of it, then recorded as the head), `outdated` when the task's head moved on since.
 */
export function reviewedHead(writer: TaskWriter, taskId: number, sha: string, change: HeadChange): Promise<'current' | 'outdated'> {
  return writer.withTask(taskId, async (tx, row) => {
    if (row.head_sha !== null && row.head_sha !== sha && (!change.prUpdatedAt || isLate(row, change.prUpdatedAt))) return 'outdated';
    await applyHead(writer, tx, row, sha, change);
    return 'current';
  });
}

export interface PushOutcome extends HeadOutcome {
  /** The push does not continue the task's head: only links the task lacked were written. */
  outOfSequence: boolean;
}

/**
 * A push from `before` to `after` (`before` null: the branch was created at `after`). It continues
 * the task's head when that head is `before`, is `after` already, or is not known yet, and is then
 * recorded as new commits. Otherwise it is out of sequence: late (the head moved on since) or early
 * (a push before it is still to be delivered). A push carries no time to tell which, so nothing but
 * missing links is written, and the caller asks Gitea for the branch's head.
 */
export async function recordPush(
  writer: TaskWriter,
  task: { id: number; projectId: number },
  before: string | null,
  after: string,
  change: HeadChange,
): Promise<PushOutcome> {
  // The usual push, the next commit of a task being worked on: one conditional write, no lock.
  // Where the head moved meanwhile, or new commits move the task (applyHead), the locked path decides.
  if (before !== null && before !== after) {
    const next = { columns: { head_sha: before }, states: COMMITS_ONLY_WRITE };
    if (await writer.writeColumnsIf(task, next, { ...change.link, head_sha: after })) {
      return { moved: false, changedHead: true, late: false, outOfSequence: false };
    }
  }
  return writer.withTask(task.id, async (tx, row) => {
    if (row.head_sha === null || row.head_sha === before || row.head_sha === after) {
      return { ...(await applyHead(writer, tx, row, after, change)), outOfSequence: false };
    }
    await writer.writeColumns(tx, row, missingLinks(row, change));
    return { moved: false, changedHead: false, late: false, outOfSequence: true };
  });
}

/**
 * Approves the task at `sha`, its pull request's head as Gitea reports it now. A head the task has
 * not recorded is recorded first, by the rule for new commits (an approval of an older head goes
 * stale), so the approval always names the head it approves.
 */
export function approveHead(writer: TaskWriter, taskId: number, sha: string, change: HeadChange & { reason: string }): Promise<{ task: Task; changedHead: boolean }> {
  return writer.withTask(taskId, async (tx, row) => {
    const head = await applyHead(writer, tx, row, sha, change);
    if (head.late) throw conflict(`the head of task ${taskId}'s pull request changed while it was being approved: approve again`);
    const { task } = await writer.apply(tx, await writer.lockRow(tx, taskId), 'approved', {
      source: 'gitea',
      actor: change.actor,
      reason: change.reason,
      deliveryId: change.deliveryId,
    });
    return { task, changedHead: head.changedHead };
  });
}
