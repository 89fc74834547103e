import { randomUUID } from 'node:crypto';
import { DelayedError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';

/** Long enough to outlive a slow call between renewals; short enough that a dead holder's lock lapses soon. */
export const LOCK_TTL_MS = 30_000;

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface HeldLock {
  release(): Promise<void>;
}

export const lockKeys = {
  /** Deliveries about one task, PR, issue or branch, handled in order. */
  ordering: (prefix: string, orderingKey: string) => `${prefix}:lock:order:${orderingKey}`,
  /** Deploys, teardowns and cleanup of one task's preview never overlap. */
  preview: (prefix: string, taskId: number) => `${prefix}:lock:preview:${taskId}`,
  /** One merge train or promotion per project at a time. */
  merge: (prefix: string, projectId: number) => `${prefix}:lock:merge:${projectId}`,
};

/**
 * The one Redis lock of aiworker, shared by every replica: owned by a random token, renewed while
 * held, lapsing by itself if its holder dies. Null when someone else holds it.
 */
export async function acquireLock(redis: Redis, key: string, ttlMs = LOCK_TTL_MS): Promise<HeldLock | null> {
  const owner = randomUUID();
  if (!(await redis.set(key, owner, 'PX', ttlMs, 'NX'))) return null;
  const renewal = setInterval(() => {
    redis.eval(RENEW, 1, key, owner, String(ttlMs)).catch(() => undefined);
  }, Math.floor(ttlMs / 3));
  renewal.unref();
  return {
    async release() {
      clearInterval(renewal);
      await redis.eval(RELEASE, 1, key, owner).catch(() => undefined);
    },
  };
}

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
  const lock = await acquireLock(redis, key);
  if (!lock) throw await waitTurn(job, token, retryMs);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
