import type { Redis } from '../redis.js';
import type { Logger } from '../log.js';

export type Permission = 'none' | 'read' | 'write' | 'admin' | 'owner';

export interface PermissionApi {
  getPermission(owner: string, repo: string, username: string): Promise<Permission>;
}

const RANK: Record<Permission, number> = { none: 0, read: 1, write: 2, admin: 3, owner: 4 };

/** Whether `has` grants at least `need` (Gitea's levels are ordered: owner ⊃ admin ⊃ write ⊃ read). */
export const atLeast = (has: Permission, need: Permission) => RANK[has] >= RANK[need];

/**
 * The one permission rule of comment commands and the console: Gitea's collaborator-permission API,
 * asked with the bot's token, its answers cached briefly in Redis. Never trusts
 * `repository.permissions` from a webhook (WEBHOOKS.md §5).
 */
export class PermissionChecker {
  constructor(
    private readonly deps: { api: PermissionApi | null; redis: Redis; prefix: string; ttlSeconds: number; log: Logger },
  ) {}

  async permission(repoFullName: string, username: string): Promise<Permission> {
    const { api, redis, prefix, ttlSeconds } = this.deps;
    if (!api) return 'none';
    const key = `${prefix}:perm:${repoFullName.toLowerCase()}:${username.toLowerCase()}`;
    const cached = ttlSeconds > 0 ? await redis.get(key).catch(() => null) : null;
    if (cached && cached in RANK) return cached as Permission;
    const [owner, repo] = repoFullName.split('/');
    const permission = await api.getPermission(owner, repo, username);
    if (ttlSeconds > 0) await redis.set(key, permission, 'EX', ttlSeconds).catch(() => undefined);
    return permission;
  }

  async canWrite(repoFullName: string, username: string): Promise<boolean> {
    return atLeast(await this.permission(repoFullName, username), 'write');
  }
}
