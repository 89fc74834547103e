import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Long enough to survive a slow Gitea call between renewals; short enough that a dead worker's lock lapses soon. */
const LOCK_TTL_MS = 60_000;

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export const mergeLockKey = (prefix: string, projectId: number) => `${prefix}:merge-lock:${projectId}`;

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * One merge train or promotion per project at a time, across every worker replica. The lock is
 * renewed while held, so a long train keeps it, and lapses on its own if the holder dies.
 * Null when another job holds it.
 */
export async function acquireMergeLock(redis: Redis, prefix: string, projectId: number, ttlMs = LOCK_TTL_MS): Promise<HeldLock | null> {
  const key = mergeLockKey(prefix, projectId);
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
