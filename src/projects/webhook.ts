import type { Redis } from 'ioredis';
import type { GiteaClient, GiteaHook } from '../gitea/client.js';
import { HOOK_EVENTS } from '../gitea/hook-events.js';
import type { Logger } from '../log.js';
import { acquireLock, lockKeys, type HeldLock } from '../queue/lock.js';
import type { Project } from './service.js';

/** What the project answer says about the repository's webhook. */
export type WebhookState = { id: number; url: string; events: string[]; active: boolean } | { error: string };

export type HookApi = Pick<GiteaClient, 'listHooks' | 'createHook' | 'editHook' | 'deleteHook'>;

export interface WebhookRegistrarDeps {
  api: HookApi | null;
  publicUrl: string | null;
  /** The first GITEA_WEBHOOK_SECRET: the one Gitea signs with. */
  secret: string | null;
  redis: Redis;
  redisPrefix: string;
  log: Logger;
}

/** Gitea answers in well under a second; a registration still waiting after this has a stuck peer. */
const LOCK_WAIT_MS = 20_000;

/**
 * Makes sure a project's repository has exactly one Gitea webhook to `<PUBLIC_URL>/webhooks/gitea`,
 * set up as aiworker needs it: created when missing, rewritten whole (Gitea's PATCH rebuilds events
 * and branch filter from the body) when present, duplicates removed. Never throws: a refusal by
 * Gitea is returned as `{error}`, with the secret kept out of it.
 */
export class WebhookRegistrar {
  readonly url: string | null;

  constructor(private readonly deps: WebhookRegistrarDeps) {
    this.url = deps.publicUrl ? `${deps.publicUrl.replace(/\/+$/, '')}/webhooks/gitea` : null;
  }

  async ensure(project: Pick<Project, 'owner' | 'repoName' | 'repo'>): Promise<WebhookState> {
    const { api, secret, log } = this.deps;
    const missing = [!this.url && 'PUBLIC_URL', !api && 'GITEA_URL and GITEA_TOKEN', !secret && 'GITEA_WEBHOOK_SECRET'].filter(Boolean);
    if (!this.url || !api || !secret) return { error: `webhook not registered: set ${missing.join(', ')}` };
    const lock = await this.#lock(project.repo);
    if (!lock) return { error: `webhook not registered: another registration for ${project.repo} is still running; try again` };
    try {
      const hook = await this.#converge(api, project.owner, project.repoName, this.url, secret);
      return { id: hook.id, url: hook.config.url ?? this.url, events: hook.events, active: hook.active };
    } catch (err) {
      const error = (err as Error).message.replaceAll(secret, '[redacted]');
      log.warn({ repo: project.repo, err: error }, 'Gitea webhook not registered');
      return { error };
    } finally {
      await lock.release();
    }
  }

  async #converge(api: HookApi, owner: string, repo: string, url: string, secret: string): Promise<GiteaHook> {
    const ours = (await api.listHooks(owner, repo)).filter((h) => sameUrl(h.config?.url, url)).sort((a, b) => a.id - b.id);
    // Only a hook of type gitea signs and shapes deliveries as aiworker reads them.
    const keep = ours.find((h) => h.type === 'gitea');
    const extra = ours.filter((h) => h !== keep);
    for (const h of extra) await api.deleteHook(owner, repo, h.id);
    const option = { config: { url, content_type: 'json' as const, secret }, events: [...HOOK_EVENTS], active: true, branch_filter: '*' };
    const hook = keep ? await api.editHook(owner, repo, keep.id, option) : await api.createHook(owner, repo, { type: 'gitea', ...option });
    this.deps.log.info({ repo: `${owner}/${repo}`, hookId: hook.id, created: !keep, duplicatesRemoved: extra.length }, 'Gitea webhook in place');
    return hook;
  }

  async #lock(repo: string): Promise<HeldLock | null> {
    const key = lockKeys.webhook(this.deps.redisPrefix, repo);
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      const lock = await acquireLock(this.deps.redis, key);
      if (lock || Date.now() > deadline) return lock;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Gitea stores the URL as given; a trailing slash is the only difference people make by hand. */
function sameUrl(a: string | undefined, b: string): boolean {
  return a !== undefined && a.replace(/\/+$/, '') === b;
}
