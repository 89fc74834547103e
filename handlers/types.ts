import type { Logger } from '../src/log.js';
import type { Project, ProjectService } from '../src/projects/service.js';
import type { TaskService } from '../src/tasks/service.js';
import type { JobScheduler } from '../src/queue/scheduler.js';
import type { Replier } from '../src/gitea/replies.js';
import type { GiteaClient } from '../src/gitea/client.js';
import type { PermissionChecker } from '../src/access/permissions.js';
import type { CommandReplies } from '../src/gitea/command-replies.js';
import type { HandledEventType } from '../src/gitea/events.js';
import type { PayloadOf } from '../src/gitea/payloads.js';

/** What every handler may use; built once in src/main.ts. */
export interface HandlerDeps {
  tasks: TaskService;
  projects: ProjectService;
  jobs: JobScheduler;
  replies: Replier;
  /** Replies to a delivery's commands, so handling it again runs and posts each once. */
  commandReplies: CommandReplies;
  permissions: PermissionChecker;
  /** What handlers read of Gitea to converge on its facts; null when Gitea is not configured. */
  gitea: Pick<GiteaClient, 'getBranch' | 'getPull'> | null;
  botLogin: () => Promise<string | null>;
  log: Logger;
}

/** One delivery, as handlers see it: they never read headers. Its payload's type follows from its event type. */
export interface WebhookContext<E extends HandledEventType = HandledEventType> {
  id: string;
  event: string;
  eventType: E;
  action: string | null;
  payload: PayloadOf<E>;
  project: Project;
  log: Logger;
}

export type HandlerResult = { status: 'processed' | 'ignored'; note?: string };

export interface WebhookHandler<E extends HandledEventType = HandledEventType> {
  eventTypes: readonly E[];
  describe: string;
  handle(ctx: WebhookContext<E>, deps: HandlerDeps): Promise<HandlerResult>;
}

export const processed = (note?: string): HandlerResult => ({ status: 'processed', note });
export const ignored = (note: string): HandlerResult => ({ status: 'ignored', note });
