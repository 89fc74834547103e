import { expect } from 'chai';
import type { Knex } from 'knex';
import { createDb } from '../../src/db/connect.js';
import { giteaDelivery, type Delivery } from '../support/gitea-delivery.js';
import { startGiteaServer, type GiteaServer } from '../support/gitea-server.js';
import { ServiceProcess, startWebAndWorker, stopAll, withOutputOf } from '../support/processes.js';
import { dropTestState, eventually, TEST_API_TOKEN, uniqueName } from '../support/service.js';

const MYSQL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const COMMANDS = 200;
const ISSUES = [501, 502, 503, 504];
/** Kills while Gitea takes a reply: half before it is stored (recorded, not posted), half after (posted, not recorded). */
const KILLS_WHILE_POSTING = 6;
/** Kills at a random moment, whatever the worker is doing then. */
const KILLS_AT_RANDOM = 2;

/**
 * Exactly one reply per command, whichever moment a worker dies at: one worker at a time answers
 * 200 `/help` commands on four task issues and is SIGKILLed again and again — while Gitea stores a
 * reply, just after, or at a random moment — and a fresh worker takes over each time.
 */
describe('system: exactly one reply per command while workers are killed mid-reply', function () {
  this.timeout(900_000);
  const name = uniqueName();
  const procs: ServiceProcess[] = [];
  let worker: ServiceProcess;
  let gitea: GiteaServer;
  let db: Knex;
  let env: Record<string, string>;
  const kills = { before: 0, after: 0, random: 0 };
  let stopping = false;

  const deliver = async (d: Delivery) => {
    const res = await fetch(`${procs[0]!.url}/webhooks/gitea`, { method: 'POST', headers: d.headers, body: d.body });
    expect(res.status).to.equal(202);
  };

  /** The worker dies holding what it holds; a fresh one is started in its place. */
  async function killWorker(): Promise<void> {
    const dying = worker;
    await dying.kill();
    worker = await ServiceProcess.start('worker', env);
    procs.push(worker);
    const started = worker;
    // A replacement that dies by itself (not killed here) is a failure worth seeing at once.
    void started.exited.then((code) => {
      if (code !== null && !stopping) console.error(`worker ${started.pid} exited with ${code}:\n${started.output().slice(-3000)}`);
    });
  }

  before(async () => {
    gitea = await startGiteaServer();
    const started = await startWebAndWorker(name, gitea.env(), 'webhooks');
    ({ env, worker } = started);
    procs.push(started.web, worker);
    db = createDb(`${MYSQL}/aiworker_test_${name}`);
  });
  after(async () => {
    gitea.interruptComments = null;
    stopping = true;
    await stopAll(procs);
    await db?.destroy();
    await dropTestState(name);
    await gitea?.close();
  });

  it('posts 200 replies, one per command, each found by its mark once', async () => withOutputOf(procs, async () => {
    const project = await fetch(`${procs[0]!.url}/api/projects`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Web app', repo: 'acme/webapp' }),
    });
    expect(project.status).to.equal(201);
    for (const n of ISSUES) await deliver(giteaDelivery('issues.labeled', { mutate: (p) => (p.issue.number = p.number = n) }));
    await eventually(async () => (await db('tasks').count({ n: '*' }))[0]!.n === ISSUES.length, 60_000, 'the issue tasks');
    await eventually(async () => gitea.comments.length === ISSUES.length, 60_000, 'the tasks announced');
    const announced = gitea.comments.length;

    // Gitea decides, at random comments, that the poster dies before or after storing one.
    let killing: Promise<void> = Promise.resolve();
    gitea.interruptComments = () => {
      if (kills.before + kills.after >= KILLS_WHILE_POSTING || Math.random() > 0.08) return null;
      const when = kills.before <= kills.after ? 'before' : 'after';
      kills[when]++;
      return when;
    };
    gitea.interrupt = () => (killing = killing.then(killWorker));

    const deliveries = Array.from({ length: COMMANDS }, (_, i) =>
      giteaDelivery('issue_comment.issue', {
        mutate: (p) => {
          p.issue.number = ISSUES[i % ISSUES.length];
          p.comment.id = 9000 + i;
          p.comment.body = '/help';
        },
      }),
    );
    const sending = (async () => {
      for (const d of deliveries) await deliver(d);
    })();
    // And a few kills at random moments, wherever the worker is.
    const randomKills = (async () => {
      for (let k = 0; k < KILLS_AT_RANDOM; k++) {
        await new Promise((r) => setTimeout(r, 2000 + Math.random() * 6000));
        await (killing = killing.then(killWorker));
        kills.random++;
      }
    })();
    await sending;
    await randomKills;

    const ids = deliveries.map((d) => d.id);
    await eventually(async () => {
      const rows = await db('webhook_deliveries').whereIn('delivery_id', ids).whereIn('status', ['processed', 'ignored', 'failed']).count({ n: '*' });
      return Number(rows[0]!.n) === COMMANDS;
    }, 780_000, `the ${COMMANDS} commands to be handled`);
    await killing;

    const statuses = await db('webhook_deliveries').whereIn('delivery_id', ids).select('status', 'last_error');
    expect(statuses.filter((s: any) => s.status !== 'processed'), 'every command handled').to.deep.equal([]);
    const replies = gitea.comments.slice(announced);
    expect(replies, 'one reply per command').to.have.length(COMMANDS);
    for (const d of deliveries) {
      const mine = replies.filter((c) => c.body.includes(`<!-- aiworker:delivery=${d.id}:0 -->`));
      expect(mine, `replies to ${d.id}`).to.have.length(1);
      expect(mine[0]!.index).to.equal(d.payload.issue.number);
      expect(mine[0]!.body).to.include('`/help`');
    }
    expect(kills.before, 'kills between recording and posting').to.be.greaterThan(0);
    expect(kills.after, 'kills between posting and recording').to.be.greaterThan(0);
    console.log(`      ${kills.before + kills.after + kills.random} kills (${kills.before} before Gitea stored a reply, ${kills.after} after, ${kills.random} at random)`);
  }));
});
