import type { Context, Next } from 'koa';
import type Router from '@koa/router';
import { forbidden, unavailable } from '../errors.js';
import type { Logger } from '../log.js';
import type { Project } from '../projects/service.js';
import { callerOf, type Caller } from './caller.js';
import { atLeast, type Permission, type PermissionChecker } from './permissions.js';

/** What a person needs on the repository of the project a call concerns. */
export type Need = 'read' | 'write' | 'admin';

/**
 * The one table of what a signed-in person may call, by route: `read` to see a project, `write` to
 * act on it, `admin` to create one, `signed-in` for what concerns no project. A route missing
 * here takes API_TOKEN: a route added later is closed to sessions until it is listed, and its
 * handler asks access(ctx).on(repo) (or readableProjectIds) for the project it concerns.
 */
export const PERSON_ROUTES: Record<string, Need | 'signed-in'> = {
  'GET /api/me': 'signed-in',
  'GET /api/agents': 'signed-in',
  'GET /api/projects': 'read',
  'POST /api/projects': 'admin',
  'GET /api/projects/:id': 'read',
  'GET /api/projects/:id/merges': 'read',
  'POST /api/projects/:id/promote': 'write',
  'POST /api/projects/:id/webhook': 'admin',
  'GET /api/tasks': 'read',
  'POST /api/tasks': 'write',
  'GET /api/tasks/:id': 'read',
  'PATCH /api/tasks/:id': 'write',
  'POST /api/tasks/:id/respond': 'write',
  'GET /api/tasks/:id/events': 'read',
  'POST /api/merge': 'write',
  'GET /api/webhooks/deliveries': 'read',
  'POST /api/webhooks/deliveries/:id/replay': 'write',
  'GET /api/deployments': 'read',
  'GET /api/deployments/:id': 'read',
};

const VERB: Record<Need, string> = { read: 'see', write: 'act on', admin: 'administer' };

/** Gitea's permission of people on repositories, looked up with the bot's token (and cached) as comment commands do. */
export class Rights {
  constructor(
    private readonly deps: { permissions: PermissionChecker; listProjects: () => Promise<Project[]> },
  ) {}

  async permission(caller: Caller, repo: string): Promise<Permission> {
    if (caller.kind === 'token') return 'owner';
    try {
      return await this.deps.permissions.permission(repo, caller.session.login);
    } catch (err) {
      // Fails closed, and says so: an unknown permission grants nothing, and is not a 403.
      throw unavailable(`Gitea's permission look-up for ${caller.session.login} on ${repo} failed, nothing was done: ${(err as Error).message}`);
    }
  }

  /** Refuses with 403 naming the permission needed, unless the caller has it on `repo`. */
  async require(caller: Caller, need: Need, repo: string): Promise<void> {
    if (caller.kind === 'token') return;
    const has = await this.permission(caller, repo);
    if (atLeast(has, need)) return;
    throw forbidden(`${need} permission on ${repo} in Gitea is needed to ${VERB[need]} it (${caller.session.login} has ${has === 'none' ? 'no access' : has}${need === 'admin' ? '; or use API_TOKEN' : ''})`);
  }

  /** The projects the caller can read; null means every project (API_TOKEN). */
  async readableProjects(caller: Caller): Promise<Project[] | null> {
    if (caller.kind === 'token') return null;
    const projects = await this.deps.listProjects();
    const allowed = await Promise.all(projects.map(async (p) => atLeast(await this.permission(caller, p.repo), 'read')));
    return projects.filter((_, i) => allowed[i]);
  }
}

/** What a route handler asks about its caller; built per request by `guardPersonRoutes`. */
export class RequestAccess {
  /** Whether the handler checked a project (tripwire for a listed route that forgot to). */
  checked = false;
  private readable: Promise<Project[] | null> | null = null;

  constructor(
    readonly caller: Caller,
    private readonly need: Need | 'signed-in',
    private readonly rights: Rights,
  ) {}

  /** What history records as the actor: the person's Gitea login, or `api` for the API token. */
  get actor(): string {
    return this.caller.kind === 'person' ? this.caller.session.login : 'api';
  }

  /** Refuses (403) unless the caller has this route's need on `repo`. */
  async on(repo: string): Promise<void> {
    this.checked = true;
    if (this.need !== 'signed-in') await this.rights.require(this.caller, this.need, repo);
  }

  /** The projects the caller can read, or null for every project. */
  readableProjects(): Promise<Project[] | null> {
    this.checked = true;
    this.readable ??= this.rights.readableProjects(this.caller);
    return this.readable;
  }

  async readableProjectIds(): Promise<number[] | null> {
    return (await this.readableProjects())?.map((p) => p.id) ?? null;
  }

  /** What the caller may do on a project's repository, as the board shows it. */
  async permissionsOn(repo: string): Promise<{ read: boolean; write: boolean; admin: boolean }> {
    const has = await this.rights.permission(this.caller, repo);
    return { read: atLeast(has, 'read'), write: atLeast(has, 'write'), admin: atLeast(has, 'admin') };
  }
}

export function access(ctx: Context): RequestAccess {
  const found = ctx.state.access as RequestAccess | undefined;
  if (!found) throw new Error(`${ctx.method} ${ctx.path} has no access check: it is not behind guardPersonRoutes`);
  return found;
}

/**
 * Runs after authentication under /api: finds the route a call matched, refuses a person on a route
 * not in PERSON_ROUTES, and gives the handler its RequestAccess.
 */
export function guardPersonRoutes(router: Router, rights: Rights, log: Logger) {
  return async (ctx: Context, next: Next) => {
    const caller = callerOf(ctx);
    const method = ctx.method === 'HEAD' ? 'GET' : ctx.method;
    const route = router.match(ctx.path, ctx.method).pathAndMethod.filter((layer) => layer.methods.length > 0).at(-1)?.path;
    const key = `${method} ${route ?? ctx.path}`;
    const need = caller.kind === 'token' ? 'signed-in' : PERSON_ROUTES[key];
    if (!need) throw forbidden(`${method} ${ctx.path} takes API_TOKEN: it is not open to signed-in people`);
    const request = new RequestAccess(caller, need, rights);
    ctx.state.access = request;
    await next();
    if (caller.kind === 'person' && need !== 'signed-in' && !request.checked && ctx.status < 400) {
      log.error({ route: key }, 'a route open to people answered without checking their permission');
      throw new Error(`${key} answered a person without checking their permission`);
    }
  };
}
