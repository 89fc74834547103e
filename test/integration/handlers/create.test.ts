import { expect } from 'chai';
import { createTask } from '../../support/service.js';
import { handlerService } from '../../support/handler-service.js';

describe('create: a task branch created (handlers/create.ts)', function () {
  const h = handlerService();

  it('create of a task branch links it and starts the task', async () => {
    const t = await createTask(h.svc, h.project.id);
    expect((await h.send('create.task-branch', { taskId: t.id })).status).to.equal('processed');
    const after = await h.task(t.id);
    expect(after.state).to.equal('in_progress');
    expect(after.branch).to.equal(`task-${t.id}-add-login`);
    const events = (await h.svc.api('GET', `/api/tasks/${t.id}/events`)).body.events;
    expect(events.at(-1)).to.include({ from: 'backlog', to: 'in_progress', reason: 'first push to the task branch' });
  });
});
