import { expect } from 'chai';
import { createTask } from '../../support/service.js';
import { handlerService } from '../../support/handler-service.js';

describe('pull_request_review_approved (handlers/review-approved.ts)', function () {
  const h = handlerService();

  it('an approving review by a writer approves the task and keeps the review as feedback', async () => {
    const t = await createTask(h.svc, h.project.id);
    await h.send('pull_request.opened', { taskId: t.id, prNumber: 30 });
    await h.setState(t.id, 'ready_to_test');
    expect((await h.send('pull_request_review_approved', { taskId: t.id, prNumber: 30 })).status).to.equal('processed');
    const after = await h.task(t.id);
    expect(after.state).to.equal('approved');
    expect(after.feedback.map((f: any) => [f.kind, f.author, f.body])).to.deep.equal([['approved', 'bob', 'LGTM, thanks!']]);
  });

  it("an approval by someone without write access changes nothing and says so once", async () => {
    const t = await createTask(h.svc, h.project.id);
    await h.send('pull_request.opened', { taskId: t.id, prNumber: 31 });
    const res = await h.send('pull_request_review_approved', { taskId: t.id, prNumber: 31, mutate: (p) => (p.sender.login = 'mallory') });
    expect(res.status).to.equal('ignored');
    expect((await h.task(t.id)).state).to.equal('in_progress');
    expect(h.gitea.comments).to.have.length(1);
    expect(h.gitea.comments[0].body).to.match(/only people with write access/);
  });

  it('an approval the state machine refuses is answered on the PR once and changes nothing', async () => {
    const t = await createTask(h.svc, h.project.id);
    await h.send('pull_request.opened', { taskId: t.id, prNumber: 33 });
    await h.setState(t.id, 'needs_input');
    const review = await h.send('pull_request_review_approved', { taskId: t.id, prNumber: 33 });
    expect(review.status).to.equal('ignored');
    const after = await h.task(t.id);
    expect(after.state).to.equal('needs_input');
    expect(after.feedback).to.deep.equal([]);
    expect(h.gitea.comments).to.have.length(1);
    expect(h.gitea.comments[0].body).to.match(/task \d+ was not approved: .*needs_input/);
    // Handled again (a replay): nothing more is posted.
    expect((await h.svc.api('POST', `/api/webhooks/deliveries/${review.id}/replay`)).status).to.equal(202);
    await h.svc.settled(review.id);
    expect(h.gitea.comments).to.have.length(1);
  });
});
