import { expect } from 'chai';
import { DeliveryQueue } from '../../src/webhooks/delivery-queue.js';
import type { DeliveryStore } from '../../src/webhooks/deliveries.js';
import { orderingKey } from '../../src/webhooks/ordering-key.js';
import { loadGiteaFixture } from '../support/gitea-delivery.js';
import { createProject, createTask, dropTestState, eventually, startTestService, uniqueName, type TestService } from '../support/service.js';

const BACKLOG = 20_000;
/** Stored and queued this many at a time, as ingest's group commit stores a busy moment's deliveries. */
const CHUNK = 500;
const sha = (i: number) => i.toString(16).padStart(8, '0').padEnd(40, 'a');

/** Records, in the order they are written, the deliveries each service's workers end (calling through). */
function recordFinishes(store: DeliveryStore, worker: string, log: Array<{ id: string; worker: string }>): void {
  const finishMany = store.finishMany.bind(store);
  store.finishMany = async (ends) => {
    await finishMany(ends);
    log.push(...ends.map((e) => ({ id: e.id, worker })));
  };
}

describe('a backlog on one ordering key (one busy task branch), two workers', function () {
  this.timeout(600_000);
  const name = uniqueName();
  let a: TestService;
  let b: TestService;

  before(async () => {
    // Two processes' worth of web and workers on one MySQL and Redis, with the default recovery
    // timing: what is measured is how the workers share the key, not how often recovery looks.
    const recovery = { intervalMs: 5000, staleAfterMs: 15_000 };
    a = await startTestService({}, { recovery }, { name });
    b = await startTestService({}, { recovery }, { name });
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
    await dropTestState(name);
  });

  it(`handles ${BACKLOG} deliveries of one key exactly once each, in the order they were stored`, async () => {
    const project = await createProject(a);
    const task = await createTask(a, project.id);
    const finished: Array<{ id: string; worker: string }> = [];
    recordFinishes(a.deliveries, 'a', finished);
    recordFinishes(b.deliveries, 'b', finished);

    // The pushes of one busy task branch, most of them (as a mirror of the repository would send
    // them) from a repository that is no project: ignored by the handler, so the run measures the
    // ordering and not the handler's work; every 1000th is the project's own push and moves its head.
    const template = structuredClone(loadGiteaFixture('push.task-branch').payload) as any;
    template.ref = `refs/heads/task-${task.id}-add-login`;
    const key = orderingKey('push', template);
    const queue = new DeliveryQueue({ queues: a.queues, deliveries: a.deliveries, log: a.log });
    const ids: string[] = [];
    const ours = (i: number) => i % 1000 === 999;
    // Stored and queued as ingest does, while both workers already handle what came before.
    for (let start = 0; start < BACKLOG; start += CHUNK) {
      const chunk = Array.from({ length: Math.min(CHUNK, BACKLOG - start) }, (_, j) => {
        const i = start + j;
        const payload = { ...template, before: sha(i), after: sha(i + 1) };
        return { id: `backlog-${name}-${i}`, event: 'push', eventType: 'push', action: null, repository: ours(i) ? 'acme/webapp' : 'acme/mirror', orderingKey: key, payload: JSON.stringify(payload) };
      });
      expect((await a.deliveries.insertMany(chunk)).size).to.equal(chunk.length);
      expect(await queue.enqueueMany(chunk.map((d) => d.id))).to.equal(true);
      ids.push(...chunk.map((d) => d.id));
    }

    await eventually(async () => finished.length >= BACKLOG, 540_000, 'the backlog to be handled');
    // Every delivery once, in stored order, whichever worker held the key.
    expect(finished.length).to.equal(BACKLOG);
    const outOfOrder = finished.findIndex((f, i) => f.id !== ids[i]);
    expect(outOfOrder, `first delivery finished out of order: #${outOfOrder}`).to.equal(-1);
    // Which worker held the key is theirs to settle: a holder drains while the key has work (a
    // handover between workers mid-backlog is in jobs/webhook-delivery.test.ts).

    const rows = await a.db('webhook_deliveries').where({ ordering_key: key }).select('status', 'attempts').count({ n: '*' }).groupBy('status', 'attempts').orderBy('status');
    expect(rows.map((r: any) => [r.status, r.attempts, Number(r.n)])).to.deep.equal([
      ['ignored', 1, BACKLOG - BACKLOG / 1000],
      ['processed', 1, BACKLOG / 1000],
    ]);
    // The project's last push stands: the task's head is its commit.
    expect((await a.tasks.get(task.id)).headSha).to.equal(sha(BACKLOG));
  });
});
