import { expect } from 'chai';
import { createTask } from '../../support/service.js';
import { handlerService } from '../../support/handler-service.js';

describe('pull_request_sync: new commits on a PR (handlers/pull-request-sync.ts)', function () {
  const h = handlerService();

  it('a synchronized that arrives before its opened still ends linked at the latest head', async () => {
    const t = await createTask(h.svc, h.project.id);
    const late = 'a'.repeat(40);
    await h.send('pull_request.synchronized', { taskId: t.id, prNumber: 23, mutate: (p) => (p.pull_request.head.sha = late) });
    await h.send('pull_request.opened', { taskId: t.id, prNumber: 23, mutate: (p) => (p.pull_request.head.sha = 'b'.repeat(40)) });
    await h.send('pull_request.synchronized', { taskId: t.id, prNumber: 23, mutate: (p) => (p.pull_request.head.sha = late) });
    const after = await h.task(t.id);
    expect(after).to.include({ prNumber: 23, state: 'in_progress', headSha: late });
  });

  it('new commits on a ready_to_test PR take it back to in_progress', async () => {
    const t = await h.prTask(24, 'ready_to_test');
    await h.send('pull_request.synchronized', { taskId: t.id, prNumber: 24, mutate: (p) => (p.pull_request.head.sha = 'c'.repeat(40)) });
    expect((await h.task(t.id)).state).to.equal('in_progress');
  });
});
