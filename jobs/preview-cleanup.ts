import type { PreviewNamespace } from '../src/k8s/cluster.js';
import type { Queues } from '../src/queue/queues.js';
import type { Task } from '../src/tasks/model.js';
import { FINISHED_STATES } from '../src/tasks/states.js';
import { acquireLock, lockKeys } from '../src/queue/lock.js';
import type { JobDefinition, JobDeps } from './types.js';

type Deps = Pick<JobDeps, 'cluster' | 'config' | 'log' | 'redis' | 'redisPrefix' | 'tasks' | 'deployments'>;

export const PREVIEW_CLEANUP = 'preview-cleanup';

/** Runs the cleanup every `everyMs` (and once right away); upserting keeps one schedule however many workers start. */
export async function schedulePreviewCleanup(queues: Queues, everyMs: number): Promise<void> {
  await queues.get('cleanup').upsertJobScheduler(
    PREVIEW_CLEANUP,
    { every: everyMs },
    { name: PREVIEW_CLEANUP, data: {}, opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
  );
}

/** Why a preview namespace should go, or null while it serves a live task; `task` is the one it was deployed for. */
function reasonToDelete(ns: PreviewNamespace, task: Task | null, now: number, ttlMs: number): string | null {
  if (ns.taskId === null) return 'it names no task';
  if (!task) return `task ${ns.taskId} of project ${ns.projectId ?? '(unknown)'} no longer exists`;
  if (FINISHED_STATES.has(task.state)) return `task ${task.id} is ${task.state}`;
  // Namespaces from before the expiry annotation age from their creation.
  const expiresAt = ns.expiresAt?.getTime() ?? (ns.createdAt ? ns.createdAt.getTime() + ttlMs : null);
  if (expiresAt !== null && expiresAt <= now) return `it expired at ${new Date(expiresAt).toISOString()}`;
  return null;
}

export const previewCleanup: JobDefinition<Record<string, never>> = {
  queue: 'cleanup',
  name: PREVIEW_CLEANUP,
  async process(job, deps: Deps) {
    const log = deps.log.child({ job: job.name, jobId: job.id });
    if (!deps.cluster) {
      log.info('dry-run: no Kubernetes cluster configured, so no preview namespaces to clean up');
      return { status: 'dry-run', deleted: [] };
    }
    const { deployments } = deps;
    const now = Date.now();
    const ttlMs = deps.config.preview.ttlHours * 3600_000;
    const deleted: string[] = [];
    const failed: string[] = [];
    let busy = 0;
    let kept = 0;
    for (const ns of await deps.cluster.listPreviewNamespaces()) {
      const found = ns.taskId === null ? null : await deps.tasks.find(ns.taskId);
      // A task with this id in another project is not the one the namespace was deployed for.
      const task = found && (ns.projectId === null || ns.projectId === found.projectId) ? found : null;
      const reason = reasonToDelete(ns, task, now, ttlMs);
      if (!reason) {
        kept++;
        continue;
      }
      // A deploy or teardown holding the task's preview decides for itself; the next round looks again.
      const lock = ns.taskId === null ? { release: async () => undefined } : await acquireLock(deps.redis, lockKeys.preview(deps.redisPrefix, ns.taskId));
      if (!lock) {
        busy++;
        continue;
      }
      try {
        await deps.cluster.deleteNamespace(ns.name);
        deleted.push(ns.name);
        log.info({ namespace: ns.name, reason }, 'preview namespace deleted');
        if (task) {
          await deps.tasks.previewGone(task.id);
          await deployments.create({
            projectId: task.projectId,
            taskId: task.id,
            environment: 'preview',
            kind: 'teardown',
            status: 'succeeded',
            url: task.previewUrl,
            taskIds: [task.id],
            dryRun: false,
            jobId: job.id,
          });
        }
      } catch (err) {
        failed.push(ns.name);
        log.warn({ namespace: ns.name, reason, err: (err as Error).message }, 'could not delete preview namespace; the next round tries again');
      } finally {
        await lock.release();
      }
    }
    log.info({ deleted: deleted.length, kept, busy, failed: failed.length }, 'preview cleanup done');
    return { status: 'succeeded', deleted, kept, busy, failed };
  },
};
