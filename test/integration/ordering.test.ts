import { expect } from 'chai';
import { createProject, createTask, eventually, startTestService, uniqueName, type TestService } from '../support/service.js';
import { giteaDelivery } from '../support/gitea-delivery.js';

describe('delivery order across workers', function () {
  this.timeout(60_000);
  let a: TestService;
  let b: TestService;
  const name = uniqueName();

  before(async () => {
    // Two processes' worth of web and workers on one MySQL and Redis.
    a = await startTestService({ WEBHOOK_CONCURRENCY: '8' }, {}, { name });
    b = await startTestService({ WEBHOOK_CONCURRENCY: '8' }, {}, { name });
  });
  after(async () => {
    await b?.stop();
    await a?.cleanup();
    const { dropTestState } = await import('../support/service.js');
    await dropTestState(name);
  });

  it('applies events about one task in delivery order, whichever worker takes them', async () => {
    const project = await createProject(a);
    const tasks = await Promise.all([1, 2, 3].map(() => createTask(a, project.id)));
    const sent: string[] = [];
    const heads = new Map<number, string>();
    for (let i = 0; i < 30; i++) {
      for (const t of tasks) {
        const sha = `${(i + 1).toString(16).padStart(4, '0')}${String(t.id).padStart(4, '0')}`.padEnd(40, 'e');
        heads.set(t.id, sha);
        const d = giteaDelivery('push.task-branch', { taskId: t.id, mutate: (p) => (p.after = sha) });
        const res = await (i % 2 ? b : a).deliver(d);
        expect(res.status).to.equal(202);
        sent.push(d.id);
      }
    }
    await eventually(async () => {
      const rows = await a.db('webhook_deliveries').whereIn('delivery_id', sent).whereIn('status', ['processed', 'ignored', 'failed']);
      return rows.length === sent.length;
    }, 45_000, 'all deliveries handled');
    for (const t of tasks) {
      const row = await a.db('tasks').where({ id: t.id }).first();
      expect(row.head_sha, `task ${t.id}`).to.equal(heads.get(t.id));
    }
    const failed = await a.db('webhook_deliveries').whereIn('delivery_id', sent).andWhere('status', 'failed');
    expect(failed).to.have.length(0);
  });
});
