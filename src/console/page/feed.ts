import { io, type Socket } from 'socket.io-client';
import type { Agent, BoardTask, Deployment, FeedEventBase, FeedSnapshot, Project, TaskState } from './types.js';

export type ConnectionState = 'connecting' | 'syncing' | 'live' | 'reconnecting' | 'offline' | 'refused' | 'error';

export interface FeedState {
  connection: { state: ConnectionState; text: string };
  tasks: Map<number, BoardTask>;
  agents: Map<number, Agent>;
  deployments: Deployment[];
  /** The projects the feed carries (the feed-token board names its projects from these). */
  projects: Project[];
}

/** How the socket proves who it is: the page's session cookie (sent by the browser), or the feed token. */
export type FeedAuth = { kind: 'session' } | { kind: 'token'; token: string };

const MAX_DEPLOYMENTS = 20;

interface TaskEvent extends FeedEventBase {
  taskId: number;
}

const emptyState = (): FeedState => ({
  connection: { state: 'connecting', text: 'connecting…' },
  tasks: new Map(),
  agents: new Map(),
  deployments: [],
  projects: [],
});

/**
 * The board's live copy of one project (or, for the feed token, every project): the snapshot of
 * `subscribe`, then the events. After a reconnect, `since` replays what was missed and the new
 * snapshot replaces the board. Every change makes a new state object, so views re-render on identity.
 */
export class FeedStore {
  private state: FeedState = emptyState();
  private readonly listeners = new Set<() => void>();
  private socket: Socket | null = null;
  private lastEventId: number | null = null;
  /** The event each task was last changed by, so a slower re-read never overwrites a newer event. */
  private readonly taskVersions = new Map<number, number>();
  private agentsAsked = false;

  constructor(
    private readonly auth: FeedAuth,
    private readonly projectId: number | null,
    private readonly onRefused: (reason: string) => void,
  ) {}

  get current(): FeedState {
    return this.state;
  }

  listen(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    const socket = io(this.auth.kind === 'token' ? { auth: { token: this.auth.token } } : {});
    this.socket = socket;
    socket.on('connect', () => this.subscribe());
    socket.on('connect_error', (err) => {
      if (socket.active) return this.setConnection('reconnecting', 'reconnecting…');
      // Refused by the server (a wrong token, a session that ended): no retry helps.
      this.setConnection('refused', `refused: ${err.message}`);
      this.onRefused(err.message);
    });
    socket.on('disconnect', () => {
      if (socket.active) this.setConnection('reconnecting', 'reconnecting…');
      else this.setConnection('offline', 'disconnected');
    });
    socket.on('task:created', (e: TaskEvent & { title: string }) => this.touchTask(e, { title: e.title, state: 'backlog' }));
    socket.on('task:status_changed', (e: TaskEvent & { newState: TaskState }) => this.touchTask(e, { state: e.newState }));
    socket.on('task:needs_input', (e: TaskEvent & { question: string }) => this.touchTask(e, { state: 'needs_input', question: e.question }));
    socket.on('task:ready_to_test', (e: TaskEvent & { previewUrl: string }) => this.touchTask(e, { state: 'ready_to_test', previewUrl: e.previewUrl }));
    socket.on('agent:status', (e: FeedEventBase & { agentId: number; status: Agent['status']; currentTaskId: number | null }) => {
      this.seen(e);
      const agents = new Map(this.state.agents);
      const known = agents.get(e.agentId);
      agents.set(e.agentId, { id: e.agentId, name: known?.name ?? `agent #${e.agentId}`, status: e.status, currentTaskId: e.currentTaskId });
      this.update({ agents });
      if (!known) this.refreshAgents();
    });
    socket.on('deploy:started', (e: FeedEventBase & { environment: string; taskIds: number[] }) => {
      this.seen(e);
      const started: Deployment = { environment: e.environment, status: 'running', taskIds: e.taskIds, url: null, createdAt: e.at };
      this.update({ deployments: [started, ...this.state.deployments].slice(0, MAX_DEPLOYMENTS) });
    });
    socket.on('deploy:completed', (e: FeedEventBase & { environment: string; url: string | null; status: string }) => {
      this.seen(e);
      const running = this.state.deployments.findIndex((d) => d.environment === e.environment && d.status === 'running');
      const deployments = [...this.state.deployments];
      if (running >= 0) deployments[running] = { ...deployments[running], status: e.status, url: e.url };
      else deployments.unshift({ environment: e.environment, status: e.status, taskIds: [], url: e.url, createdAt: e.at });
      this.update({ deployments: deployments.slice(0, MAX_DEPLOYMENTS) });
    });
  }

  close(): void {
    this.socket?.close();
    this.socket = null;
    this.listeners.clear();
  }

  private update(change: Partial<FeedState>): void {
    this.state = { ...this.state, ...change };
    for (const listener of this.listeners) listener();
  }

  private setConnection(state: ConnectionState, text: string): void {
    this.update({ connection: { state, text } });
  }

  private seen(e: FeedEventBase): void {
    this.lastEventId = Math.max(this.lastEventId ?? 0, e.eventId);
  }

  private subscribe(): void {
    const socket = this.socket;
    if (!socket) return;
    this.setConnection('syncing', 'syncing…');
    const request: { projectId?: number; since?: number } = {};
    if (this.projectId !== null) request.projectId = this.projectId;
    if (this.lastEventId !== null) request.since = this.lastEventId;
    socket.emit('subscribe', request, (answer: FeedSnapshot | { error: { message: string } }) => {
      if ('error' in answer) return this.setConnection('error', answer.error.message);
      this.taskVersions.clear();
      this.lastEventId = Math.max(this.lastEventId ?? 0, answer.lastEventId);
      this.update({
        tasks: new Map(answer.tasks.map((t) => [t.id, t])),
        agents: new Map(answer.agents.map((a) => [a.id, a])),
        deployments: answer.deployments,
        projects: answer.projects ?? [],
        connection: { state: 'live', text: 'live' },
      });
    });
  }

  /** Events carry only what changed: the card is re-read (links, agent), unless a newer event came first. */
  private touchTask(e: TaskEvent, change: Partial<BoardTask>): void {
    this.seen(e);
    const known = this.state.tasks.get(e.taskId) ?? placeholder(e);
    const moved = change.state !== undefined && change.state !== known.state;
    const task: BoardTask = { ...known, ...change, stateSince: moved ? e.at : known.stateSince };
    this.taskVersions.set(e.taskId, e.eventId);
    this.update({ tasks: new Map(this.state.tasks).set(e.taskId, task) });
    this.refresh(e.taskId, e.eventId);
  }

  private refresh(taskId: number, version: number): void {
    this.socket?.emit('getTask', { taskId }, (answer: { task?: BoardTask }) => {
      if (!answer.task || this.taskVersions.get(taskId) !== version) return;
      if (this.projectId !== null && answer.task.projectId !== this.projectId) return;
      const known = this.state.tasks.get(taskId);
      const task = { ...answer.task, stateSince: answer.task.stateSince ?? known?.stateSince ?? null };
      this.update({ tasks: new Map(this.state.tasks).set(taskId, task) });
      if (task.assignedAgentId !== null && !this.state.agents.has(task.assignedAgentId)) this.refreshAgents();
    });
  }

  /** Agents' events carry no name: a newcomer's name is read once, with the whole list. */
  private refreshAgents(): void {
    if (this.agentsAsked || !this.socket) return;
    this.agentsAsked = true;
    this.socket.emit('getAgents', {}, (answer: { agents?: Agent[] }) => {
      this.agentsAsked = false;
      if (answer.agents) this.update({ agents: new Map(answer.agents.map((a) => [a.id, a])) });
    });
  }
}

function placeholder(e: TaskEvent): BoardTask {
  return {
    id: e.taskId,
    projectId: e.projectId ?? 0,
    title: `task ${e.taskId}`,
    description: null,
    state: 'backlog',
    branch: null,
    prNumber: null,
    prUrl: null,
    headSha: null,
    issueNumber: null,
    previewUrl: null,
    assignedAgentId: null,
    approvedAt: null,
    createdAt: e.at,
    updatedAt: e.at,
    stateSince: e.at,
    question: null,
  };
}
