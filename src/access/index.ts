import type Router from '@koa/router';
import type { Config } from '../config.js';
import type { Db } from '../db/connect.js';
import type { Logger } from '../log.js';
import type { Project, ProjectService } from '../projects/service.js';
import type { CallerDeps } from './caller.js';
import { FeedGate } from './feed.js';
import { GiteaSignIn } from './gitea-sign-in.js';
import { HostRule } from './origin.js';
import type { PermissionChecker } from './permissions.js';
import { Rights } from './rights.js';
import { meRoutes, signInRoutes } from './routes.js';
import { SessionStore } from './sessions.js';

export interface Access {
  hosts: HostRule;
  /** Null when sign-in with Gitea is not configured. */
  sessions: SessionStore | null;
  callers: CallerDeps;
  rights: Rights;
  /** Who may open the feed and what each viewer sees. */
  feed: FeedGate;
  /** /auth/* (when sign-in is configured). */
  publicRoutes: Router[];
  /** GET /api/me. */
  apiRoutes: Router[];
}

const PAGE = 1000;

/** Every project, page by page (the readable ones are picked from them). */
async function allProjects(projects: ProjectService): Promise<Project[]> {
  const all: Project[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const page = await projects.list({ limit: PAGE, offset });
    all.push(...page.projects);
    if (page.projects.length < PAGE) return all;
  }
}

/** Who may reach aiworker and do what: Origin/Host, the API token, people's sessions and their Gitea rights. */
export function createAccess(deps: { config: Config; db: Db; permissions: PermissionChecker; projects: ProjectService; log: Logger }): Access {
  const { config } = deps;
  const hosts = new HostRule(config.publicUrl, config.allowedHosts);
  const sessions = config.signIn ? new SessionStore(deps.db) : null;
  const callers: CallerDeps = { apiToken: config.apiToken, sessions, hosts };
  const rights = new Rights({ permissions: deps.permissions, listProjects: () => allProjects(deps.projects) });
  const publicRoutes =
    config.signIn && sessions
      ? [signInRoutes({ ...callers, sessions, signIn: new GiteaSignIn(config.signIn), secureCookies: config.signIn.secureCookies, log: deps.log })]
      : [];
  const feed = new FeedGate({ feedToken: config.feedToken, sessions, hosts, rights, db: deps.db });
  return { hosts, sessions, callers, rights, feed, publicRoutes, apiRoutes: [meRoutes()] };
}
