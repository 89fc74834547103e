import { expect } from 'chai';
import { Redis } from 'ioredis';
import { taskWaitingChannel } from '../../../jobs/task-waiting.js';
import { giteaDelivery } from '../../support/gitea-delivery.js';
import { createProject, createTask, eventually, REDIS_URL, startTestService, type TestService } from '../../support/service.js';

describe('task-waiting: tasks waiting are announced to agents (jobs/task-waiting.ts)', function () {
  this.timeout(30_000);
  let svc: TestService;
  let subscriber: Redis;
  const heard: Array<{ taskId: number; projectId: number; title: string }> = [];

  before(async () => {
    svc = await startTestService();
    subscriber = new Redis(REDIS_URL);
    await subscriber.subscribe(taskWaitingChannel(svc.config.redisPrefix));
    subscriber.on('message', (_channel, message) => heard.push(JSON.parse(message)));
  });
  after(async () => {
    subscriber?.disconnect();
    await svc?.cleanup();
  });

  const heardFor = (taskId: number) => heard.filter((m) => m.taskId === taskId).length;

  it('whenever a task enters the backlog: created, handed back, reopened, or from a labelled issue', async () => {
    const project = await createProject(svc);
    const t = await createTask(svc, project.id, 'Announce me');
    await eventually(async () => heardFor(t.id) === 1, 10_000, 'the announcement of a created task');
    expect(heard.find((m) => m.taskId === t.id)).to.deep.equal({ taskId: t.id, projectId: project.id, title: 'Announce me' });

    const patch = (state: string) => svc.api('PATCH', `/api/tasks/${t.id}`, { state });
    expect((await patch('in_progress')).status).to.equal(200);
    expect((await patch('backlog')).status).to.equal(200);
    await eventually(async () => heardFor(t.id) === 2, 10_000, 'the announcement of a task handed back');
    expect((await patch('cancelled')).status).to.equal(200);
    expect((await patch('backlog')).status).to.equal(200);
    await eventually(async () => heardFor(t.id) === 3, 10_000, 'the announcement of a reopened task');

    const labelled = giteaDelivery('issues.labeled', { mutate: (p) => (p.issue.number = 77) });
    await svc.deliver(labelled);
    expect(await svc.settled(labelled.id)).to.equal('processed');
    const created = await svc.db('tasks').where({ issue_number: 77 }).first('id');
    await eventually(async () => heardFor(created.id) === 1, 10_000, 'the announcement of a task from an issue');
  });
});
