import type { BoardTask } from '../../tasks/model.js';

export type { BoardTask };
export { TASK_STATES, type TaskState } from '../../tasks/states.js';

export interface Agent {
  id: number;
  name: string;
  status: 'idle' | 'busy' | 'offline';
  currentTaskId: number | null;
}

export interface Deployment {
  id?: number;
  environment: string;
  status: string;
  url: string | null;
  taskIds: number[];
  dryRun?: boolean;
  createdAt: string;
}

/** What the signed-in person may do in a project, as Gitea's repository permission says. */
export interface Permissions {
  read: boolean;
  write: boolean;
  admin: boolean;
}

export interface Project {
  id: number;
  name: string;
  repo: string;
  /** Present on answers to a person's session; absent for the feed token, which only watches. */
  permissions?: Permissions;
}

export interface Me {
  login: string;
  fullName: string;
  avatarUrl: string;
  csrfToken: string;
}

/** The `subscribe` acknowledgement. */
export interface FeedSnapshot {
  tasks: BoardTask[];
  lastEventId: number;
  agents: Agent[];
  deployments: Deployment[];
  projects: Project[];
}

/** Fields every feed event carries besides its own. */
export interface FeedEventBase {
  eventId: number;
  projectId: number | null;
  at: string;
}
