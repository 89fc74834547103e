import { expect } from 'chai';
import { handlerService } from '../../support/handler-service.js';

describe('pull_request_review_approved (handlers/review-approved.ts)', function () {
  const h = handlerService();

  it('an approving review by a writer approves the task and keeps the review as feedback', async () => {
    const { delivered, after } = await h.prEvent(30, ['ready_to_test'], 'pull_request_review_approved');
    expect(delivered.status).to.equal('processed');
    expect(after.state).to.equal('approved');
    expect(after.feedback.map((f: any) => [f.kind, f.author, f.body])).to.deep.equal([['approved', 'bob', 'LGTM, thanks!']]);
  });

  it("an approval by someone without write access changes nothing and says so once", async () => {
    const { delivered, after } = await h.prEvent(31, [], 'pull_request_review_approved', (p) => (p.sender.login = 'mallory'));
    expect(delivered.status).to.equal('ignored');
    expect(after.state).to.equal('in_progress');
    expect(h.gitea.comments).to.have.length(1);
    expect(h.gitea.comments[0].body).to.match(/only people with write access/);
  });

  it('an approval the state machine refuses is answered on the PR once and changes nothing', async () => {
    const { delivered: review, after } = await h.prEvent(33, ['needs_input'], 'pull_request_review_approved');
    expect(review.status).to.equal('ignored');
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
