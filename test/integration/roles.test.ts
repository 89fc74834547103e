import { expect } from 'chai';
import { startTestService, type TestService } from '../support/service.js';

describe('roles', () => {
  let worker: TestService;
  before(async () => {
    worker = await startTestService({ ROLE: 'worker' });
  });
  after(async () => worker?.cleanup());

  it('a worker serves only its health and metrics', async () => {
    expect((await fetch(`${worker.url}/healthz`)).status).to.equal(200);
    const ready = await fetch(`${worker.url}/readyz`);
    expect(ready.status).to.equal(200);
    expect(((await ready.json()) as any).checks.mysql.status).to.equal('ok');
    expect(await (await fetch(`${worker.url}/metrics`)).text()).to.match(/aiworker_process_cpu_seconds_total/);
    expect((await worker.api('GET', '/api/tasks')).status).to.equal(404);
    expect((await fetch(`${worker.url}/webhooks/gitea`, { method: 'POST', body: '{}' })).status).to.equal(404);
  });
});

describe('repeatable jobs', () => {
  let worker: TestService;
  before(async () => {
    worker = await startTestService({ ROLE: 'worker' }, { schedules: true, rescheduleMs: 200 });
  });
  after(async () => worker?.cleanup());

  it('come back after Redis lost them', async () => {
    const { eventually } = await import('../support/service.js');
    const schedulers = async () => [
      ...(await worker.queues.get('cleanup').getJobSchedulers()),
      ...(await worker.queues.get('tasks').getJobSchedulers()),
    ].map((s) => s.key);
    expect(await schedulers()).to.have.members(['preview-cleanup', 'delivery-pruning', 'agent-liveness']);
    await worker.queues.get('cleanup').removeJobScheduler('preview-cleanup');
    await worker.queues.get('cleanup').removeJobScheduler('delivery-pruning');
    await worker.queues.get('tasks').removeJobScheduler('agent-liveness');
    expect(await schedulers()).to.deep.equal([]);
    await eventually(async () => (await schedulers()).length === 3, 5000, 'the schedules to be re-created');
  });
});
