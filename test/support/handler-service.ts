import { expect } from 'chai';
import type { TaskState } from '../../src/tasks/states.js';
import { giteaDelivery, type DeliveryOptions } from './gitea-delivery.js';
import { startGiteaServer, type GiteaServer } from './gitea-server.js';
import { createProject, createTask, moveTask, startTestService, type TestService } from './service.js';

/** What a handler's tests share: the service, its stand-in Gitea, the project, and ways to deliver. */
export interface HandlerService {
  svc: TestService;
  gitea: GiteaServer;
  project: any;
  /** Delivers a fixture, expects 202, and waits until a worker has handled it. */
  send(name: string, opts?: DeliveryOptions): Promise<{ status: string; id: string }>;
  /** The task as REST answers it. */
  task(id: number): Promise<any>;
  /** Moves a task through these states, each as whoever may make that move. */
  setState(id: number, ...states: string[]): Promise<void>;
  /** A new task whose pull request `prNumber` was opened (the delivery handled), then moved through `states`. */
  prTask(prNumber: number, ...states: string[]): Promise<any>;
  /** A prTask in `states`, then `fixture` delivered about its PR: the task, the delivery, and the task after it. */
  prEvent(prNumber: number, states: string[], fixture: string, mutate?: (p: any) => void): Promise<{ t: any; delivered: { status: string; id: string }; after: any }>;
  /** Every deploy job queued so far, as `name:taskId` (or `name:environment` for syncs). */
  deployJobs(): Promise<string[]>;
}

/**
 * Registers the hooks of a describe block that tests handlers: one service with the stand-in Gitea
 * (alice and bob write, mallory reads, permissions never cached), one project with staging and
 * production Argo CD applications, and Gitea's records cleared before each test.
 */
export function handlerService(project: Record<string, unknown> = { argocdApplication: 'webapp-staging', argocdProductionApplication: 'webapp-prod' }): HandlerService {
  const h = {} as HandlerService;
  before(async () => {
    h.gitea = await startGiteaServer();
    h.gitea.setPermission('alice', 'write');
    h.gitea.setPermission('bob', 'write');
    h.gitea.setPermission('mallory', 'read');
    h.svc = await startTestService({ ...h.gitea.env(), PERMISSION_CACHE_SECONDS: '0' });
    h.project = await createProject(h.svc, project);
  });
  after(async () => {
    await h.svc?.cleanup();
    await h.gitea?.close();
  });
  beforeEach(() => h.gitea.reset());

  h.send = async (name, opts = {}) => {
    const d = giteaDelivery(name, opts);
    const res = await h.svc.deliver(d);
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    return { status: await h.svc.settled(d.id), id: d.id };
  };
  h.task = async (id) => (await h.svc.api('GET', `/api/tasks/${id}`)).body;
  h.setState = (id, ...states) => moveTask(h.svc, id, ...(states as TaskState[]));
  h.prTask = async (prNumber, ...states) => {
    const t = await createTask(h.svc, h.project.id);
    await h.send('pull_request.opened', { taskId: t.id, prNumber });
    await h.setState(t.id, ...states);
    return t;
  };
  h.prEvent = async (prNumber, states, fixture, mutate) => {
    const t = await h.prTask(prNumber, ...states);
    const delivered = await h.send(fixture, { taskId: t.id, prNumber, mutate });
    return { t, delivered, after: await h.task(t.id) };
  };
  h.deployJobs = async () =>
    (await h.svc.queues.get('deploy').getJobs(['waiting', 'delayed', 'active', 'completed', 'failed'])).map((j) => `${j.name}:${j.data.taskId ?? j.data.environment}`);
  return h;
}

/** A fixture mutation: the comment (and its sender) says `body` as `login`. */
export const commentBy = (body: string, login = 'alice') => (p: any) => {
  p.comment.body = body;
  p.comment.user.login = login;
  p.sender.login = login;
};
