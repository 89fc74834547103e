import { expect } from 'chai';
import { handlerService } from '../../support/handler-service.js';

describe('pull_request_review_rejected (handlers/review-rejected.ts)', function () {
  const h = handlerService();

  it('a review requesting changes sends the task back with the review text', async () => {
    const { delivered, after } = await h.prEvent(32, ['approved'], 'pull_request_review_rejected');
    expect(delivered.status).to.equal('processed');
    expect(after).to.include({ state: 'in_progress' });
    expect(after.feedback[0].kind).to.equal('changes_requested');
    expect(after.feedback[0].body).to.be.a('string').and.not.empty;
  });
});
