/**
 * A repository's webhooks as Gitea keeps them, answering its hook API (swagger.v1.json:
 * CreateHookOption, EditHookOption, Hook) with the semantics of routers/api/v1/utils/hook.go:
 * `active` defaults to false, empty `events` means push, `pull_request` and `issues` switch on
 * their sub-events, a PATCH rebuilds events and branch filter from its body, and answers never
 * carry the secret. Every call is recorded.
 */

export interface StoredHook {
  id: number;
  type: string;
  url: string;
  contentType: string;
  /** Kept to check what Gitea would sign with; never part of an answer. */
  secret: string;
  /** The enabled event keys (Gitea's HookEvents map). */
  events: Set<string>;
  active: boolean;
  branchFilter: string;
  createdAt: string;
  updatedAt: string;
}

type Answer = [number, unknown];

const HOOK_TYPES = ['dingtalk', 'discord', 'gitea', 'gogs', 'msteams', 'slack', 'telegram', 'feishu', 'wechatwork', 'packagist'];
const CONTENT_TYPES = ['json', 'form'];
const PLAIN_EVENTS = ['create', 'push', 'delete', 'fork', 'repository', 'wiki', 'release', 'package', 'status', 'workflow_run', 'workflow_job'];
const ISSUE_EVENTS = ['issue_assign', 'issue_label', 'issue_milestone', 'issue_comment'];
const PULL_EVENTS = ['pull_request_assign', 'pull_request_label', 'pull_request_milestone', 'pull_request_comment', 'pull_request_review', 'pull_request_review_request', 'pull_request_sync'];

/** updateHookEvents: which events a CreateHookOption/EditHookOption `events` list switches on. */
export function giteaHookEvents(requested: string[] | undefined): Set<string> {
  const asked = (requested?.length ? requested : ['push']).map((e) => e.toLowerCase());
  const has = (e: string) => asked.includes(e);
  const on = new Set<string>();
  for (const e of PLAIN_EVENTS) if (has(e)) on.add(e);
  if (has('issues_only') || has('issues')) on.add('issues');
  for (const e of ISSUE_EVENTS) if (has(e) || has('issues')) on.add(e);
  if (has('pull_request_only') || has('pull_request')) on.add('pull_request');
  for (const e of PULL_EVENTS) if (has(e) || has('pull_request')) on.add(e);
  return on;
}

export class GiteaHookStore {
  readonly hooks: StoredHook[] = [];
  readonly calls: Array<{ method: string; path: string; body: unknown }> = [];
  /** While set, every hook call answers this status (a bot that is not a repository admin gets 403). */
  refuse: number | null = null;
  private nextId = 1;

  constructor(private readonly giteaUrl: string) {}

  reset(): void {
    this.hooks.length = 0;
    this.calls.length = 0;
    this.refuse = null;
  }

  /** Adds a hook as a person would in Gitea's settings page. */
  add(hook: Partial<StoredHook> & { url: string }): StoredHook {
    const now = new Date().toISOString();
    const stored: StoredHook = { id: this.nextId++, type: 'gitea', contentType: 'json', secret: '', events: new Set(['push']), active: true, branchFilter: '', createdAt: now, updatedAt: now, ...hook };
    this.hooks.push(stored);
    return stored;
  }

  answer(method: string, path: string, body: unknown): Answer {
    this.calls.push({ method, path, body });
    if (this.refuse !== null) return [this.refuse, this.error('user should be an owner or a collaborator with admin write of a repository')];
    const [pathname, query = ''] = path.split('?');
    const id = /\/hooks\/(\d+)$/.exec(pathname!);
    if (method === 'GET' && !id) return this.list(new URLSearchParams(query));
    if (method === 'POST' && !id) return this.create(body as Record<string, any>);
    const hook = id ? this.hooks.find((h) => h.id === Number(id[1])) : undefined;
    if (!hook) return [404, this.error("The target couldn't be found.")];
    if (method === 'GET') return [200, this.toHook(hook)];
    if (method === 'PATCH') return this.edit(hook, body as Record<string, any>);
    if (method === 'DELETE') {
      this.hooks.splice(this.hooks.indexOf(hook), 1);
      return [204, ''];
    }
    return [405, this.error('method not allowed')];
  }

  private list(query: URLSearchParams): Answer {
    const limit = Math.min(Number(query.get('limit') ?? 30) || 30, 50);
    const page = Math.max(Number(query.get('page') ?? 1) || 1, 1);
    return [200, this.hooks.slice((page - 1) * limit, page * limit).map((h) => this.toHook(h))];
  }

  private create(body: Record<string, any>): Answer {
    if (!HOOK_TYPES.includes(body?.type)) return [422, this.error(`Invalid hook type: ${body?.type}`)];
    for (const name of ['url', 'content_type']) {
      if (typeof body.config?.[name] !== 'string') return [422, this.error(`Missing config option: ${name}`)];
    }
    if (!CONTENT_TYPES.includes(body.config.content_type)) return [422, this.error('Invalid content type')];
    const hook = this.add({
      type: body.type,
      url: body.config.url,
      contentType: body.config.content_type,
      secret: body.config.secret ?? '',
      events: giteaHookEvents(body.events),
      active: body.active === true,
      branchFilter: body.branch_filter ?? '',
    });
    return [201, this.toHook(hook)];
  }

  private edit(hook: StoredHook, body: Record<string, any>): Answer {
    const config = body?.config ?? {};
    if (config.content_type !== undefined && !CONTENT_TYPES.includes(config.content_type)) return [422, this.error('Invalid content type')];
    if (config.url !== undefined) hook.url = config.url;
    if (config.content_type !== undefined) hook.contentType = config.content_type;
    if (config.secret !== undefined) hook.secret = config.secret;
    hook.events = giteaHookEvents(body?.events);
    hook.branchFilter = body?.branch_filter ?? '';
    if (typeof body?.active === 'boolean') hook.active = body.active;
    hook.updatedAt = new Date().toISOString();
    return [200, this.toHook(hook)];
  }

  private toHook(h: StoredHook) {
    return {
      id: h.id,
      type: h.type,
      branch_filter: h.branchFilter,
      config: { url: h.url, content_type: h.contentType, http_method: 'post' },
      events: [...h.events],
      authorization_header: '',
      active: h.active,
      updated_at: h.updatedAt,
      created_at: h.createdAt,
    };
  }

  private error(message: string) {
    return { message, url: `${this.giteaUrl}/api/swagger` };
  }
}
