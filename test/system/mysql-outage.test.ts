import { expect } from 'chai';
import { giteaDelivery } from '../support/gitea-delivery.js';
import { TestMariaDb } from '../support/mariadb-server.js';
import { freePort } from '../support/redis-server.js';
import { createProject, eventually, startTestService, type TestService } from '../support/service.js';

const issue = (n: number) =>
  giteaDelivery('issues.labeled', {
    mutate: (p) => {
      p.issue.number = n;
      p.number = n;
    },
  });

async function readyz(svc: TestService): Promise<{ status: number; body: any }> {
  const res = await fetch(`${svc.url}/readyz`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.json() };
}

describe('system: MySQL unavailable', function () {
  this.timeout(120_000);
  let mariadb: TestMariaDb;
  let svc: TestService;

  before(async () => {
    // A MariaDB of this test's own, which it can stop and start again on the same port and data.
    mariadb = new TestMariaDb(await freePort());
    await mariadb.install();
    await mariadb.start();
    svc = await startTestService({ DATABASE_URL: mariadb.databaseUrl('aiworker_outage') });
    await createProject(svc);
  });
  after(async () => {
    // The service may be waiting on the stopped server: bring it back so shutdown is clean.
    await mariadb?.start().catch(() => undefined);
    await svc?.cleanup();
    await mariadb?.remove();
  });

  it('answers 503 to webhooks and /readyz naming mysql while it is down, and recovers by itself when it is back', async () => {
    const before = issue(1);
    expect((await svc.deliver(before)).status).to.equal(202);
    expect(await svc.settled(before.id)).to.equal('processed');

    await mariadb.stop();
    const during = issue(2);
    const started = Date.now();
    const refused = await svc.deliver(during);
    // Gitea gives up after 5 s: the refusal must come sooner than that.
    expect(Date.now() - started).to.be.below(5000);
    expect(refused.status).to.equal(503);
    expect(refused.body.error.code).to.be.a('string');
    expect(refused.body.error.message).to.match(/could not be stored/);
    const down = await readyz(svc);
    expect(down.status).to.equal(503);
    expect(down.body.checks.mysql.status).to.equal('error');
    expect(down.body.checks.redis.status).to.equal('ok');
    // What operators alert on.
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).to.include('aiworker_webhooks_received_total{event_type="issue_label",outcome="503"} 1');

    await mariadb.start();
    await eventually(async () => (await readyz(svc)).status === 200, 30_000, '/readyz to answer 200 again');
    // Gitea's "redeliver" sends the refused delivery again, under a new id; new deliveries flow as before.
    const again = issue(2);
    const after = issue(3);
    for (const d of [again, after]) {
      const res = await svc.deliver(d);
      expect(res.status, JSON.stringify(res.body)).to.equal(202);
      expect(await svc.settled(d.id, 20_000)).to.equal('processed');
    }
    const stored = await svc.db('webhook_deliveries').pluck('delivery_id');
    expect(stored.sort()).to.deep.equal([before.id, again.id, after.id].sort());
    const tasks = await svc.db('tasks').orderBy('issue_number').pluck('issue_number');
    expect(tasks).to.deep.equal([1, 2, 3]);
  });
});
