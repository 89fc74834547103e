import { expect } from 'chai';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { giteaDelivery, loadGiteaFixture, type DeliveryOptions } from '../../support/gitea-delivery.js';
import type { GiteaServer } from '../../support/gitea-server.js';
import { giteaUser } from '../../support/gitea-shapes.js';
import { agentService, callTool, type McpHarness } from '../../support/mcp-harness.js';
import { eventually, moveTask } from '../../support/service.js';

const REJECTED = loadGiteaFixture('pull_request_review_rejected').payload;
const REVIEW_TEXT: string = REJECTED.review.content;
const HEAD: string = REJECTED.pull_request.head.sha;

/**
 * A reviewer's line comments reach the agent: Gitea's review webhook carries neither the review's
 * id nor its comments, so they are fetched (`…/pulls/{index}/reviews`, then `…/reviews/{id}/comments`)
 * and kept with the feedback that `get_task` and REST return.
 */
describe('review-comments: review comments reach the agent (jobs/review-comments.ts)', function () {
  this.timeout(60_000);
  let gitea: GiteaServer;
  let h: McpHarness;
  let agent: Client;
  let project: any;
  let nextPr = 80;
  let nextReview = 500;

  const stand = agentService('agent-7');
  before(() => ({ h, gitea, project, agent } = stand));

  /** swagger PullReview. */
  const review = (id: number, pr: number, login: string, state: string, body: string, comments: number) => ({
    id,
    user: giteaUser(gitea.url, login),
    team: null,
    state,
    body,
    commit_id: HEAD,
    stale: false,
    official: true,
    dismissed: false,
    comments_count: comments,
    submitted_at: `2025-06-03T08:44:${String(id % 60).padStart(2, '0')}Z`,
    updated_at: '2025-06-03T08:44:50Z',
    html_url: `${gitea.url}/acme/webapp/pulls/${pr}#issuecomment-${id}`,
    pull_request_url: `${gitea.url}/acme/webapp/pulls/${pr}`,
  });
  /** swagger PullReviewComment: `position` is the new file's line, `original_position` the old one's. */
  const lineComment = (id: number, reviewId: number, path: string, position: number, originalPosition: number, body: string) => ({
    id,
    body,
    user: giteaUser(gitea.url, 'bob'),
    resolver: null,
    pull_request_review_id: reviewId,
    created_at: '2025-06-03T08:44:40Z',
    updated_at: '2025-06-03T08:44:40Z',
    path,
    commit_id: HEAD,
    original_commit_id: HEAD,
    diff_hunk: `@@ -1,3 +1,4 @@\n line`,
    position,
    original_position: originalPosition,
    html_url: `${gitea.url}/acme/webapp/pulls/80/files#issuecomment-${id}`,
    pull_request_url: `${gitea.url}/acme/webapp/pulls/80`,
  });

  /** A task in `approved` on PR `pr`, whose reviews in Gitea are bob's older one, someone else's, and bob's with three line comments. */
  async function reviewedTask() {
    const pr = nextPr++;
    const t = (await h.api('POST', '/api/tasks', { projectId: project.id, title: 'Add login' })).body;
    await send('pull_request.opened', { taskId: t.id, prNumber: pr });
    await moveTask(h.svc, t.id, 'in_progress', 'approved');
    const older = nextReview++;
    const other = nextReview++;
    const latest = nextReview++;
    gitea.reviews.set(pr, [
      review(older, pr, 'bob', 'REQUEST_CHANGES', 'An earlier round.', 1),
      review(other, pr, 'carol', 'REQUEST_CHANGES', REVIEW_TEXT, 1),
      review(latest, pr, 'bob', 'REQUEST_CHANGES', REVIEW_TEXT, 3),
    ]);
    gitea.reviewComments.set(older, [lineComment(1, older, 'README.md', 1, 0, 'Not this one.')]);
    gitea.reviewComments.set(other, [lineComment(2, other, 'README.md', 2, 0, 'Nor this one.')]);
    gitea.reviewComments.set(latest, [
      lineComment(3, latest, 'src/session.ts', 12, 0, 'Set `HttpOnly` here.'),
      lineComment(4, latest, 'src/session.ts', 13, 0, 'And `Secure`.'),
      lineComment(5, latest, 'src/login.ts', 0, 40, 'Why was the rate limit removed?'),
    ]);
    return { id: t.id as number, pr };
  }
  const expectedComments = [
    { path: 'src/session.ts', line: 12, body: 'Set `HttpOnly` here.' },
    { path: 'src/session.ts', line: 13, body: 'And `Secure`.' },
    { path: 'src/login.ts', line: 40, body: 'Why was the rate limit removed?' },
  ];

  async function send(name: string, opts: DeliveryOptions) {
    const d = giteaDelivery(name, opts);
    expect((await h.svc.deliver(d)).status).to.equal(202);
    return { status: await h.svc.settled(d.id), id: d.id };
  }
  const reviewJobs = async () => (await h.svc.queues.get('tasks').getJobs(['completed', 'failed', 'waiting', 'delayed', 'active'])).filter((j) => j.name === 'review-comments');

  it('a review requesting changes: get_task shows its three line comments, structured; the feed event is unchanged', async () => {
    const { id, pr } = await reviewedTask();
    expect((await send('pull_request_review_rejected', { taskId: id, prNumber: pr })).status).to.equal('processed');
    const read = await eventually(async () => {
      const t = await callTool(agent, 'get_task', { taskId: id });
      return t.feedback?.[0]?.comments?.length ? t : null;
    }, 20_000, 'the line comments in get_task');
    expect(read.state).to.equal('in_progress');
    expect(read.feedback).to.have.length(1);
    expect(read.feedback[0]).to.include({ kind: 'changes_requested', author: 'bob', body: REVIEW_TEXT });
    expect(read.feedback[0].comments).to.deep.equal(expectedComments);
    const rest = (await h.api('GET', `/api/tasks/${id}`)).body;
    expect(rest.feedback[0].comments).to.deep.equal(expectedComments);
    // task:status_changed keeps its payload: the comments are the task's, not the event's.
    const [moved] = await h.svc.db('task_events').where({ task_id: id, type: 'task:status_changed', to_state: 'in_progress', from_state: 'approved' });
    const data = typeof moved.data === 'string' ? JSON.parse(moved.data) : moved.data;
    expect(data).to.deep.equal({ taskId: id, oldState: 'approved', newState: 'in_progress' });
  });

  for (const status of [404, 500]) {
    it(`Gitea answering ${status} for the comments: the feedback and the move are kept at once, the comments follow on a retry`, async () => {
      const { id, pr } = await reviewedTask();
      gitea.failReviewComments = { status, count: 1 };
      expect((await send('pull_request_review_rejected', { taskId: id, prNumber: pr })).status).to.equal('processed');
      const now = await callTool(agent, 'get_task', { taskId: id });
      expect(now.state).to.equal('in_progress');
      expect(now.feedback.map((f: any) => [f.kind, f.body])).to.deep.equal([['changes_requested', REVIEW_TEXT]]);
      const later = await eventually(async () => {
        const t = await callTool(agent, 'get_task', { taskId: id });
        return t.feedback[0].comments.length ? t : null;
      }, 30_000, 'the comments after a retry');
      expect(later.feedback[0].comments).to.deep.equal(expectedComments);
      expect(gitea.failReviewComments!.count).to.equal(0);
      const [job] = (await reviewJobs()).filter((j) => j.data.prNumber === pr);
      expect(job!.attemptsMade, 'one failed attempt, then the one that fetched').to.equal(2);
    });
  }

  it('a line comment left later (a review of type comment) is fetched into its own feedback', async () => {
    const { id, pr } = await reviewedTask();
    const later = nextReview++;
    gitea.reviews.get(pr)!.push(review(later, pr, 'bob', 'COMMENT', '', 1));
    gitea.reviewComments.set(later, [lineComment(9, later, 'src/session.ts', 20, 0, 'Also rotate the session id.')]);
    const res = await send('pull_request_review_comment', {
      taskId: id,
      prNumber: pr,
      mutate: (p) => {
        p.review.content = '';
        p.sender.login = 'bob';
      },
    });
    expect(res.status).to.equal('processed');
    const read = await eventually(async () => {
      const t = await callTool(agent, 'get_task', { taskId: id });
      return t.feedback.find((f: any) => f.kind === 'comment' && f.comments.length) ? t : null;
    }, 20_000, 'the line comment in get_task');
    const fb = read.feedback.find((f: any) => f.kind === 'comment');
    expect(fb).to.include({ author: 'bob', body: '' });
    expect(fb.comments).to.deep.equal([{ path: 'src/session.ts', line: 20, body: 'Also rotate the session id.' }]);
  });
});
