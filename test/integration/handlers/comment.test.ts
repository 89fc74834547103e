import { expect } from 'chai';
import { commentBy, handlerService } from '../../support/handler-service.js';
import { loadGiteaFixture } from '../../support/gitea-delivery.js';
import { giteaPull } from '../../support/gitea-shapes.js';

describe('issue_comment, pull_request_comment and review summaries: comment commands (handlers/comment.ts)', function () {
  const h = handlerService();

  /** The PR as Gitea's API answers it (what /approve reads), at the head of the opened fixture. */
  const openPull = (taskId: number, n: number) =>
    h.gitea.pulls.set(n, giteaPull(h.gitea.url, { number: n, head: `task-${taskId}-add-login`, headSha: loadGiteaFixture('pull_request.opened').payload.pull_request.head.sha, base: 'staging', baseSha: 'a'.repeat(40) }));
  async function prTask(n: number, ...states: string[]) {
    const t = await h.prTask(n, ...states);
    openPull(t.id, n);
    return t;
  }

  it('/approve by a writer approves, with exactly one reply', async () => {
    const t = await prTask(40, 'ready_to_test');
    expect((await h.send('issue_comment.pr', { taskId: t.id, prNumber: 40, mutate: commentBy('/approve') })).status).to.equal('processed');
    expect((await h.task(t.id)).state).to.equal('approved');
    expect(h.gitea.comments.map((c) => c.index)).to.deep.equal([40]);
    expect(h.gitea.comments[0].body).to.match(/approved by @alice/);
  });

  it('/approve by a reader is politely refused and changes nothing', async () => {
    const t = await prTask(41, 'ready_to_test');
    await h.send('issue_comment.pr', { taskId: t.id, prNumber: 41, mutate: commentBy('/approve', 'mallory') });
    expect((await h.task(t.id)).state).to.equal('ready_to_test');
    expect(h.gitea.comments).to.have.length(1);
    expect(h.gitea.comments[0].body).to.match(/needs write access/);
    expect(h.gitea.permissionAsks).to.include('mallory');
  });

  for (const [label, body] of [
    ['a quote', '> /approve\nI agree with the above'],
    ['a fenced code block', 'Try this:\n```\n/approve\n```'],
    ['an indented code block', 'Example:\n\n    /approve'],
    ['the middle of a line', 'please /approve this'],
  ]) {
    it(`ignores /approve inside ${label}`, async () => {
      const t = await prTask(42, 'ready_to_test');
      expect((await h.send('issue_comment.pr', { taskId: t.id, prNumber: 42, mutate: commentBy(body) })).status).to.equal('ignored');
      expect((await h.task(t.id)).state).to.equal('ready_to_test');
      expect(h.gitea.comments).to.have.length(0);
    });
  }

  it('/reject <reason> sends the task back with the reason as feedback; without a reason it shows usage', async () => {
    const t = await prTask(43, 'ready_to_test');
    await h.send('issue_comment.pr', { taskId: t.id, prNumber: 43, mutate: commentBy('/reject') });
    expect((await h.task(t.id)).state).to.equal('ready_to_test');
    expect(h.gitea.comments[0].body).to.match(/Usage: `\/reject <reason>`/);
    await h.send('issue_comment.pr', { taskId: t.id, prNumber: 43, mutate: commentBy('/reject the button is misaligned') });
    const after = await h.task(t.id);
    expect(after.state).to.equal('in_progress');
    expect(after.feedback.map((f: any) => f.body)).to.include('the button is misaligned');
    expect(h.gitea.comments).to.have.length(2);
  });

  it('a refused transition is answered with the reason', async () => {
    const t = await prTask(44, 'in_progress', 'needs_input');
    await h.send('issue_comment.pr', { taskId: t.id, prNumber: 44, mutate: commentBy('/approve') });
    expect((await h.task(t.id)).state).to.equal('needs_input');
    expect(h.gitea.comments[0].body).to.match(/refused.*needs_input/);
    // /reject sends back only what was ready to test or approved: not a task waiting for an answer.
    await h.send('issue_comment.pr', { taskId: t.id, prNumber: 44, mutate: commentBy('/reject not like this') });
    expect((await h.task(t.id)).state).to.equal('needs_input');
    expect(h.gitea.comments[1].body).to.match(/`\/reject` refused: task \d+ is needs_input/);
  });

  it('/help lists every command, generated from the registry', async () => {
    const t = await prTask(45);
    await h.send('issue_comment.pr', { taskId: t.id, prNumber: 45, mutate: commentBy('/help', 'mallory') });
    expect(h.gitea.comments).to.have.length(1);
    for (const usage of ['/approve', '/reject <reason>', '/preview', '/stage', '/answer <text>', '/cancel', '/retry', '/help']) {
      expect(h.gitea.comments[0].body).to.include(`\`${usage}\``);
    }
  });

  it('answers an open question by /answer and by a plain reply', async () => {
    const t = await prTask(46);
    await h.svc.tasks.ask(t.id, null, 'Which colour?', 'agent');
    await h.send('issue_comment.pr', { taskId: t.id, prNumber: 46, mutate: commentBy('/answer blue') });
    let after = await h.task(t.id);
    expect(after.state).to.equal('in_progress');
    expect(after.questions[0]).to.include({ answer: 'blue', answeredBy: 'alice' });
    await h.svc.tasks.ask(t.id, null, 'Which shade?', 'agent');
    await h.send('issue_comment.pr', { taskId: t.id, prNumber: 46, mutate: commentBy('> Which shade?\nNavy, please.') });
    after = await h.task(t.id);
    expect(after.state).to.equal('in_progress');
    expect(after.questions[1]).to.include({ answer: 'Navy, please.' });
    // Both ways of answering get the same reply.
    const thanks = `Thanks @alice, your answer was passed to the agent working on task ${t.id}.`;
    expect(h.gitea.comments.map((c) => c.body.split('\n')[0])).to.deep.equal([thanks, thanks]);
  });

  it('a reply from someone without write access is answered politely and answers nothing; a replay posts nothing more', async () => {
    const t = await prTask(49);
    await h.svc.tasks.ask(t.id, null, 'Which colour?', 'agent');
    const delivered = await h.send('issue_comment.pr', { taskId: t.id, prNumber: 49, mutate: commentBy('Red!', 'mallory') });
    expect(delivered.status).to.equal('processed');
    const after = await h.task(t.id);
    expect(after.state).to.equal('needs_input');
    expect(after.questions[0].answer).to.equal(null);
    expect(h.gitea.comments).to.have.length(1);
    expect(h.gitea.comments[0].body).to.match(/Sorry @mallory, only people with write access .* can answer the question of task \d+/);
    expect(h.gitea.permissionAsks).to.include('mallory');
    expect((await h.svc.api('POST', `/api/webhooks/deliveries/${delivered.id}/replay`)).status).to.equal(202);
    await h.svc.settled(delivered.id);
    expect(h.gitea.comments).to.have.length(1);
    expect((await h.task(t.id)).state).to.equal('needs_input');
  });

  it('/cancel cancels and tears the preview down; /preview queues a redeploy; /stage refuses an unapproved task', async () => {
    const t = await prTask(47);
    await h.send('issue_comment.pr', { taskId: t.id, prNumber: 47, mutate: commentBy('/preview\n/stage') });
    expect(h.gitea.comments.map((c) => c.body)).to.satisfy((b: string[]) => /Preview redeploy/.test(b[0]) && /only approved tasks/.test(b[1]));
    await h.send('issue_comment.pr', { taskId: t.id, prNumber: 47, mutate: commentBy('/cancel') });
    expect((await h.task(t.id)).state).to.equal('cancelled');
    expect(await h.deployJobs()).to.include(`preview-teardown:${t.id}`);
  });

  it('/retry says when there is nothing to retry', async () => {
    const t = await prTask(48);
    await h.send('issue_comment.pr', { taskId: t.id, prNumber: 48, mutate: commentBy('/retry') });
    expect(h.gitea.comments[0].body).to.match(/no failed job/);
  });

  it("never reacts to its own comments", async () => {
    const t = await prTask(49, 'ready_to_test');
    expect((await h.send('issue_comment.pr', { taskId: t.id, prNumber: 49, mutate: commentBy('/approve', 'aiworker-bot') })).status).to.equal('ignored');
    expect((await h.send('issue_comment.pr', { taskId: t.id, prNumber: 49, mutate: commentBy('/approve\n\n<!-- aiworker -->') })).status).to.equal('ignored');
    expect((await h.task(t.id)).state).to.equal('ready_to_test');
    expect(h.gitea.comments).to.have.length(0);
  });

  it("runs commands written in a review's summary", async () => {
    const t = await prTask(50, 'ready_to_test');
    const res = await h.send('pull_request_review_comment', {
      taskId: t.id,
      prNumber: 50,
      mutate: (p) => {
        p.review.content = 'Looks good.\n/approve';
        p.sender.login = 'alice';
      },
    });
    expect(res.status).to.equal('processed');
    expect((await h.task(t.id)).state).to.equal('approved');
    expect(h.gitea.comments.map((c) => c.index)).to.deep.equal([50]);
    // A review without commands is still feedback for the agent (its line comments are fetched from Gitea).
    expect((await h.send('pull_request_review_comment', { taskId: t.id, prNumber: 50 })).status).to.equal('processed');
    expect(h.gitea.comments.map((c) => c.index)).to.deep.equal([50]);
  });

  it('works on a task issue too', async () => {
    const created = await h.send('issues.labeled', { mutate: (p) => (p.issue.number = 90) });
    expect(created.status).to.equal('processed');
    const [row] = await h.svc.db('tasks').where({ issue_number: 90 });
    h.gitea.reset();
    await h.setState(row.id, 'in_progress');
    await h.send('issue_comment.issue', { mutate: (p) => { p.issue.number = 90; commentBy('/cancel')(p); } });
    expect((await h.task(row.id)).state).to.equal('cancelled');
    expect(h.gitea.comments.map((c) => c.index)).to.deep.equal([90]);
  });
});
