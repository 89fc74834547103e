import { expect } from 'chai';
import { DeliveryQueue } from '../../../src/webhooks/delivery-queue.js';
import type { DeliveryStore } from '../../../src/webhooks/deliveries.js';
import { orderingKey } from '../../../src/webhooks/ordering-key.js';
import { loadGiteaFixture } from '../../support/gitea-delivery.js';
import { dropTestState, eventually, startTestService, uniqueName, type TestService } from '../../support/service.js';

const BACKLOG = 3000;

/** Counts, in the order written, the deliveries a service's workers end. */
function recordFinishes(store: DeliveryStore, log: string[]): void {
  const finishMany = store.finishMany.bind(store);
  store.finishMany = async (ends) => {
    await finishMany(ends);
    log.push(...ends.map((e) => e.id));
  };
}

/**
 * A key's holder drains until nothing is pending; a worker that closes meanwhile must not hold its
 * process for the rest of the backlog: it stops at the next delivery, and the job it leaves
 * delayed lets the next worker finish the key, in order, each delivery once.
 */
describe('a worker closing while it drains a backlog on one key', function () {
  this.timeout(180_000);
  const name = uniqueName();
  after(() => dropTestState(name));

  it('stops at once, and the next worker drains the rest in order, each delivery once', async () => {
    const a: TestService = await startTestService({}, {}, { name });
    const finished: string[] = [];
    recordFinishes(a.deliveries, finished);
    const template = structuredClone(loadGiteaFixture('push.task-branch').payload) as any;
    const key = orderingKey('push', template);
    const rows = Array.from({ length: BACKLOG }, (_, i) => ({
      id: `drain-stop-${name}-${i}`,
      event: 'push',
      eventType: 'push',
      action: null,
      // No project has this repository: each delivery ends `ignored`, quickly, in order.
      repository: 'acme/mirror',
      orderingKey: key,
      payload: JSON.stringify({ ...template, after: String(i).padStart(40, '0') }),
    }));
    for (let i = 0; i < BACKLOG; i += 500) await a.deliveries.insertMany(rows.slice(i, i + 500));
    await new DeliveryQueue({ queues: a.queues, deliveries: a.deliveries, log: a.log }).enqueueMany(rows.map((r) => r.id));

    await eventually(async () => finished.length > 0, 30_000, 'the drain to start');
    await a.stop();
    // A worker that kept draining while closing would have ended them all before stop() returned.
    expect(finished.length, 'the first worker stopped before the end of the backlog').to.be.below(BACKLOG);

    const b = await startTestService({}, {}, { name });
    try {
      recordFinishes(b.deliveries, finished);
      await eventually(async () => finished.length >= BACKLOG, 120_000, 'the second worker to drain the rest');
      expect(finished).to.deep.equal(rows.map((r) => r.id));
      const ended = await b.db('webhook_deliveries').where({ ordering_key: key }).select('status', 'attempts').count({ n: '*' }).groupBy('status', 'attempts');
      expect(ended.map((r: any) => [r.status, r.attempts, Number(r.n)])).to.deep.equal([['ignored', 1, BACKLOG]]);
    } finally {
      await b.stop();
    }
  });
});
