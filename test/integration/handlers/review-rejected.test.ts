import { expect } from 'chai';
import { createTask } from '../../support/service.js';
import { handlerService } from '../../support/handler-service.js';

describe('pull_request_review_rejected (handlers/review-rejected.ts)', function () {
  const h = handlerService();

  it('a review requesting changes sends the task back with the review text', async () => {
    const t = await createTask(h.svc, h.project.id);
    await h.send('pull_request.opened', { taskId: t.id, prNumber: 32 });
    await h.setState(t.id, 'approved');
    expect((await h.send('pull_request_review_rejected', { taskId: t.id, prNumber: 32 })).status).to.equal('processed');
    const after = await h.task(t.id);
    expect(after.state).to.equal('in_progress');
    expect(after.feedback[0].kind).to.equal('changes_requested');
    expect(after.feedback[0].body).to.be.a('string').and.not.empty;
  });
});
