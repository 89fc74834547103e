import { expect } from 'chai';
import { moveTask } from '../../support/service.js';
import { giteaDelivery, type DeliveryOptions } from '../../support/gitea-delivery.js';
import { handlerService } from '../../support/handler-service.js';

/** Tasks from Gitea issues: the `aiworker` label or an assignment to the bot account (issues.assigned). */
describe('issues, issue_label, issue_assign: tasks from issues (handlers/issues.ts)', function () {
  const h = handlerService({});
  let nextIssue = 300;

  async function send(name: string, issue: number, mutate: (p: any) => void = () => {}, opts: DeliveryOptions = {}) {
    const d = giteaDelivery(name, { ...opts, mutate: (p) => { p.issue.number = p.number = issue; mutate(p); } });
    expect((await h.svc.deliver(d)).status).to.equal(202);
    return { status: await h.svc.settled(d.id), id: d.id };
  }
  const tasksOf = (issue: number) => h.svc.db('tasks').where({ project_id: h.project.id, issue_number: issue });
  const unassign = (p: any) => {
    p.action = 'unassigned';
    p.issue.assignees = [];
    p.issue.assignee = null;
  };
  const labelled = (p: any) => p.issue.labels.push({ id: 11, name: 'aiworker', exclusive: false, is_archived: false, color: '7c3aed', description: '', url: '' });

  it('an issue labelled aiworker becomes a backlog task, once', async () => {
    const first = await h.send('issues.labeled', { mutate: (p) => (p.issue.number = 91) });
    expect(first.status).to.equal('processed');
    const again = await h.send('issues.labeled', { mutate: (p) => (p.issue.number = 91) });
    expect(again.status).to.equal('ignored');
    const rows = await h.svc.db('tasks').where({ issue_number: 91 });
    expect(rows).to.have.length(1);
    expect(rows[0].state).to.equal('backlog');
    expect(h.gitea.comments).to.have.length(1);
    expect(h.gitea.comments[0].body).to.include(`task ${rows[0].id}`);
    expect((await h.send('issues.opened')).status).to.equal('processed');
    expect((await h.send('issues.labeled', { mutate: (p) => { p.issue.number = 92; p.issue.labels = [{ id: 1, name: 'bug' }]; } })).status).to.equal('ignored');
  });

  it('an issue assigned to the bot becomes one backlog task, announced once on the issue', async () => {
    const n = nextIssue++;
    const first = await send('issues.assigned', n);
    expect(first.status).to.equal('processed');
    const rows = await tasksOf(n);
    expect(rows.map((r: any) => r.state)).to.deep.equal(['backlog']);
    expect(h.gitea.comments.map((c) => c.index)).to.deep.equal([n]);
    expect(h.gitea.comments[0]!.body).to.include(`task ${rows[0].id}`).and.to.include('@aiworker-bot');
    // Gitea sends no second delivery, but a replay converges: no second task, no second comment.
    expect((await h.svc.api('POST', `/api/webhooks/deliveries/${first.id}/replay`)).status).to.equal(202);
    await h.svc.settled(first.id);
    expect(await tasksOf(n)).to.have.length(1);
    expect(h.gitea.comments).to.have.length(1);
  });

  it('assigned to someone else, it is not a task', async () => {
    const n = nextIssue++;
    const res = await send('issues.assigned', n, (p) => (p.issue.assignees = [{ ...p.sender }]));
    expect(res.status).to.equal('ignored');
    expect(await tasksOf(n)).to.have.length(0);
  });

  for (const order of [['issues.labeled', 'issues.assigned'], ['issues.assigned', 'issues.labeled']]) {
    it(`labelled and assigned (${order.join(' then ')}): still one task`, async () => {
      const n = nextIssue++;
      // Gitea sends the state after each change: the second delivery sees both the label and the assignee.
      const both = (p: any) => {
        if (!p.issue.labels.some((l: any) => l.name === 'aiworker')) labelled(p);
        const bot = { ...p.sender, id: 9, login: 'aiworker-bot', username: 'aiworker-bot' };
        p.issue.assignees = [bot];
      };
      const [a, b] = order as [string, string];
      expect((await send(a, n)).status).to.equal('processed');
      expect((await send(b, n, both)).status).to.equal('ignored');
      expect(await tasksOf(n)).to.have.length(1);
      expect(h.gitea.comments).to.have.length(1);
    });
  }

  it('unassigned before work started: the task is cancelled, with one comment', async () => {
    const n = nextIssue++;
    await send('issues.assigned', n);
    const [row] = await tasksOf(n);
    h.gitea.reset();
    expect((await send('issues.assigned', n, unassign)).status).to.equal('processed');
    expect((await h.svc.tasks.get(row.id)).state).to.equal('cancelled');
    expect(h.gitea.comments.map((c) => c.body)).to.satisfy((b: string[]) => b.length === 1 && b[0]!.includes(`cancelled task ${row.id}`));
    const events = (await h.svc.api('GET', `/api/tasks/${row.id}/events`)).body.events;
    expect(events.at(-1)).to.include({ from: 'backlog', to: 'cancelled', actor: 'bob' });
  });

  it('closed before work started: the task is cancelled', async () => {
    const n = nextIssue++;
    await send('issues.labeled', n);
    const [row] = await tasksOf(n);
    const closed = (p: any) => {
      p.action = 'closed';
      p.issue.state = 'closed';
      p.issue.closed_at = '2025-06-03T09:00:00Z';
    };
    expect((await send('issues.opened', n, closed)).status).to.equal('processed');
    expect((await h.svc.tasks.get(row.id)).state).to.equal('cancelled');
  });

  it('unassigned while labelled, or after work started: the task stays', async () => {
    const labelledToo = nextIssue++;
    await send('issues.assigned', labelledToo, labelled);
    expect((await send('issues.assigned', labelledToo, (p) => { labelled(p); unassign(p); })).status).to.equal('ignored');
    expect((await tasksOf(labelledToo)).map((r: any) => r.state)).to.deep.equal(['backlog']);

    const started = nextIssue++;
    await send('issues.assigned', started);
    const [row] = await tasksOf(started);
    await moveTask(h.svc, row.id, 'in_progress');
    const res = await send('issues.assigned', started, unassign);
    expect(res.status).to.equal('ignored');
    expect((await h.svc.tasks.get(row.id)).state).to.equal('in_progress');
  });
});
