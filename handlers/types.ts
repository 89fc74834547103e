import type { Logger } from '../src/log.js';
import type { Project, ProjectService } from '../src/projects/service.js';
import type { TaskService } from '../src/tasks/service.js';
import type { JobScheduler } from '../src/queue/scheduler.js';
import type { Replier } from '../src/gitea/replies.js';
import type { PermissionChecker } from '../src/gitea/permissions.js';
import type { CommandReplies } from '../src/gitea/command-replies.js';
import type { HandledEventType } from '../src/gitea/events.js';

/** What every handler may use; built once in src/main.ts. */
export interface HandlerDeps {
  tasks: TaskService;
  projects: ProjectService;
  jobs: JobScheduler;
  replies: Replier;
  /** Replies to a delivery's commands, so handling it again runs and posts each once. */
  commandReplies: CommandReplies;
  permissions: PermissionChecker;
  botLogin: () => Promise<string | null>;
  log: Logger;
}

/** One delivery, as handlers see it: they never read headers. */
export interface WebhookContext<P = unknown> {
  id: string;
  event: string;
  eventType: HandledEventType;
  action: string | null;
  payload: P;
  project: Project;
  log: Logger;
}

export type HandlerResult = { status: 'processed' | 'ignored'; note?: string };

export interface WebhookHandler<P = unknown> {
  eventTypes: readonly HandledEventType[];
  describe: string;
  handle(ctx: WebhookContext<P>, deps: HandlerDeps): Promise<HandlerResult>;
}

export const processed = (note?: string): HandlerResult => ({ status: 'processed', note });
export const ignored = (note: string): HandlerResult => ({ status: 'ignored', note });
