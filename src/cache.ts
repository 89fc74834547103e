import type { Redis } from './redis.js';
import type { Logger } from './log.js';

/** How long each kind of cached value lives, in seconds. */
export const CACHE_TTL = {
  task: 5 * 60,
  taskList: 2 * 60,
  agents: 30,
  project: 10 * 60,
} as const;

/**
 * A read-through cache in Redis that never serves a value older than the last write.
 *
 * Each cached value is stored under its key plus the current numbers of the "generations" it
 * depends on. A write bumps those generations after its commit, so a reader that loaded stale
 * rows before the commit stored them under a key nobody asks for again.
 * Redis being away is not an error here: reads go to MySQL.
 */
export class Cache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {}

  private genKey(gen: string): string {
    return `${this.prefix}:gen:${gen}`;
  }

  async getOrLoad<T>(key: string, ttlSeconds: number, gens: string[], load: () => Promise<T>): Promise<T> {
    let versionedKey: string | null = null;
    try {
      const versions = gens.length ? await this.redis.mget(gens.map((g) => this.genKey(g))) : [];
      versionedKey = `${this.prefix}:cache:${key}@${versions.map((v) => v ?? '0').join('.')}`;
      const hit = await this.redis.get(versionedKey);
      if (hit !== null) return JSON.parse(hit) as T;
    } catch (err) {
      this.log.debug({ err, key }, 'cache read skipped');
      versionedKey = null;
    }
    const value = await load();
    if (versionedKey && value !== undefined) {
      await this.redis.set(versionedKey, JSON.stringify(value), 'EX', ttlSeconds).catch((err) => {
        this.log.debug({ err, key }, 'cache write skipped');
      });
    }
    return value;
  }

  /** Called after the commit of a write: every value built on these generations is now unreachable. */
  async bump(gens: string[]): Promise<void> {
    if (!gens.length) return;
    try {
      const pipeline = this.redis.multi();
      for (const gen of new Set(gens)) {
        pipeline.incr(this.genKey(gen));
        // Outlives every cached value, so an expired generation can never match an old entry.
        pipeline.expire(this.genKey(gen), 24 * 3600);
      }
      await pipeline.exec();
    } catch (err) {
      this.log.warn({ err, gens }, 'cache invalidation failed; entries expire by their TTL');
    }
  }
}

export const gens = {
  task: (id: number) => `task:${id}`,
  taskList: (projectId: number) => `tasklist:${projectId}`,
  project: (id: number) => `project:${id}`,
  projects: () => 'projects',
  agents: () => 'agents',
};
