import { expect } from 'chai';
import { startTestService, type TestService } from './support/service.js';

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
