import type { Logger } from '../../src/log.js';
import type { Project } from '../../src/projects/service.js';
import type { Task } from '../../src/tasks/model.js';
import type { HandlerDeps } from '../types.js';

export interface CommandContext {
  task: Task;
  project: Project;
  /** The commenter's login. */
  author: string;
  /** Everything after the command name on its line, trimmed. */
  args: string;
  /** The PR or issue number the comment was made on. */
  index: number;
  /** Whether `index` is a pull request. */
  isPull: boolean;
  headSha: string | null;
  deliveryId: string;
  /** Commands change tasks and queue jobs; their reply is posted by the caller. */
  deps: Pick<HandlerDeps, 'tasks' | 'jobs' | 'gitea'>;
  log: Logger;
}

/** A comment command: declared with its usage and who may use it, so /help is generated (Prow style). */
export interface Command {
  name: string;
  usage: string;
  help: string;
  /** State-changing commands need write permission on the repository. */
  needsWrite: boolean;
  /** Returns the text of aiworker's one reply. */
  run(ctx: CommandContext): Promise<string>;
}

export class CommandUsageError extends Error {}
