import { randomUUID } from 'node:crypto';
import { DelayedError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';

/** Long enough to outlive a slow call between renewals; short enough that a dead holder's lock lapses soon. */
export const LOCK_TTL_MS = 30_000;

/** Takes a free lock, or one this owner already holds (a job run again after its worker died). */
const TAKE = `local v = redis.call('GET', KEYS[1]) if (not v) or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end return 0`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface HeldLock {
  /** True once a renewal found the lock gone or taken (it lapsed, or Redis lost it): stop acting under it. */
  readonly lost: boolean;
  release(): Promise<void>;
}

export const lockKeys = {
  /** Deliveries about one task, PR, issue or branch, handled in order. */
  ordering: (prefix: string, orderingKey: string) => `${prefix}:lock:order:${orderingKey}`,
  /** Deploys, teardowns and cleanup of one task's preview never overlap. */
  preview: (prefix: string, taskId: number) => `${prefix}:lock:preview:${taskId}`,
  /** One merge train or promotion per project at a time. */
  merge: (prefix: string, projectId: number) => `${prefix}:lock:merge:${projectId}`,
  /** One registration of a repository's Gitea webhook at a time, so two never both create one. */
  webhook: (prefix: string, repo: string) => `${prefix}:lock:webhook:${repo.toLowerCase()}`,
};

/**
 * The one Redis lock of aiworker, shared by every replica: renewed while held, lapsing by itself if
 * its holder dies. A job names itself as the owner, so when its worker dies and the job runs again
 * it takes its own lock back at once instead of waiting for the lease to lapse. Null when someone
 * else holds it.
 */
export async function acquireLock(redis: Redis, key: string, owner: string = randomUUID(), ttlMs = LOCK_TTL_MS): Promise<HeldLock | null> {
  if (!(await redis.eval(TAKE, 1, key, owner, String(ttlMs)))) return null;
  let lost = false;
  const renewal = setInterval(() => {
    redis.eval(RENEW, 1, key, owner, String(ttlMs)).then((renewed) => (lost ||= !renewed), () => undefined);
  }, Math.floor(ttlMs / 3));
  renewal.unref();
  return {
    get lost() {
      return lost;
    },
    async release() {
      clearInterval(renewal);
      await redis.eval(RELEASE, 1, key, owner).catch(() => undefined);
    },
  };
}

/** The lock owner a job names itself by. */
export const jobOwner = (job: Job) => `job:${job.queueName}:${job.id}`;

/** Puts the job back in the delayed set to try again later; the caller throws what this returns. */
export async function waitTurn(job: Job, token: string | undefined, retryMs: number): Promise<DelayedError> {
  await job.moveToDelayed(Date.now() + retryMs, token);
  return new DelayedError();
}

/** Runs fn holding the lock; when another job holds it, this job waits its turn without using an attempt. */
export async function whileHolding<T>(
  job: Job,
  token: string | undefined,
  redis: Redis,
  key: string,
  fn: () => Promise<T>,
  retryMs = 500,
): Promise<T> {
  const lock = await acquireLock(redis, key, jobOwner(job));
  if (!lock) throw await waitTurn(job, token, retryMs);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
