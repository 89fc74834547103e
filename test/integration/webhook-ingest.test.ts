import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import { createProject, eventually, startTestService, type TestService } from '../support/service.js';
import { giteaDelivery, TEST_WEBHOOK_SECRET } from '../support/gitea-delivery.js';

describe('webhook ingest', function () {
  let svc: TestService;
  const count = async () => Number((await svc.db('webhook_deliveries').count({ n: '*' }))[0].n);

  before(async () => {
    svc = await startTestService({ GITEA_WEBHOOK_SECRET: `rotated-secret,${TEST_WEBHOOK_SECRET}`, WEBHOOK_MAX_BYTES: '65536' });
    await createProject(svc);
  });
  after(async () => svc?.cleanup());

  it('stores, queues and answers 202 for a signed JSON delivery', async () => {
    const d = giteaDelivery('issues.labeled');
    const res = await svc.deliver(d);
    expect(res.status).to.equal(202);
    expect(res.body.deliveryId).to.equal(d.id);
    expect(await svc.settled(d.id)).to.equal('processed');
    const list = await svc.api('GET', '/api/webhooks/deliveries?status=processed');
    const row = list.body.deliveries.find((x: any) => x.id === d.id);
    expect(row).to.include({ event: 'issues', eventType: 'issue_label', action: 'label_updated', repository: 'acme/webapp', status: 'processed', attempts: 1, lastError: null });
    expect(row.receivedAt).to.match(/Z$/);
    expect(list.body.total).to.be.at.least(1);
  });

  it('stores the payload byte for byte, and one that is not valid UTF-8 as text', async () => {
    const title = 'Ünïcødé ✓ 🚀 — “quotes”';
    const d = giteaDelivery('issues.labeled', { mutate: (p) => ((p.issue.title = title), (p.issue.number = 901)) });
    expect((await svc.deliver(d)).status).to.equal(202);
    const stored = await svc.db('webhook_deliveries').where({ delivery_id: d.id }).first('payload');
    expect(stored.payload).to.equal(d.body);
    expect(JSON.parse(stored.payload).issue.title).to.equal(title);
    expect(await svc.settled(d.id)).to.equal('processed');

    // A lone 0xff byte in a string: signed over the raw bytes, as Gitea would; JSON.parse sees U+FFFD.
    const raw = Buffer.concat([Buffer.from(d.body.split(title)[0] + 'broken '), Buffer.from([0xff]), Buffer.from(d.body.split(title)[1])]);
    const id = `${d.id}-bytes`;
    const res = await fetch(`${svc.url}/webhooks/gitea`, {
      method: 'POST',
      headers: { ...d.headers, 'X-Gitea-Delivery': id, 'X-Gitea-Signature': createHmac('sha256', TEST_WEBHOOK_SECRET).update(raw).digest('hex') },
      body: raw,
    });
    expect(res.status).to.equal(202);
    const text = (await svc.db('webhook_deliveries').where({ delivery_id: id }).first('payload')).payload;
    expect(JSON.parse(text).issue.title).to.equal('broken \ufffd');
  });

  it('accepts a form-encoded delivery signed over its payload field', async () => {
    const d = giteaDelivery('push.staging', { form: true });
    expect(d.headers['Content-Type']).to.equal('application/x-www-form-urlencoded');
    const res = await svc.deliver(d);
    expect(res.status).to.equal(202);
    expect(await svc.settled(d.id)).to.equal('processed');
  });

  it('accepts either signature header alone, and a secret being rotated out', async () => {
    const onlyHub = giteaDelivery('push.staging');
    delete onlyHub.headers['X-Gitea-Signature'];
    expect((await svc.deliver(onlyHub)).status).to.equal(202);
    const onlyGitea = giteaDelivery('push.staging');
    delete onlyGitea.headers['X-Hub-Signature-256'];
    expect((await svc.deliver(onlyGitea)).status).to.equal(202);
    const rotated = giteaDelivery('push.staging', { secret: 'rotated-secret' });
    expect((await svc.deliver(rotated)).status).to.equal(202);
  });

  it('refuses unsigned and wrongly signed deliveries with 401 and stores nothing', async () => {
    const before = await count();
    const wrong = giteaDelivery('push.staging', { secret: 'not-the-secret' });
    expect((await svc.deliver(wrong)).status).to.equal(401);
    const unsigned = giteaDelivery('push.staging', { secret: '' });
    const res = await svc.deliver(unsigned);
    expect(res.status).to.equal(401);
    expect(res.body.error.code).to.equal('unauthorized');
    const tampered = giteaDelivery('push.staging');
    tampered.body = tampered.body.replace('"main"', '"evil"');
    expect((await svc.deliver(tampered)).status).to.equal(401);
    expect(await count()).to.equal(before);
  });

  it('refuses a body over WEBHOOK_MAX_BYTES with 413 while reading', async () => {
    const before = await count();
    const d = giteaDelivery('push.staging', { mutate: (p) => (p.commits[0].message = 'x'.repeat(70_000)) });
    const res = await svc.deliver(d);
    expect(res.status).to.equal(413);
    expect(res.body.error.code).to.equal('payload_too_large');
    expect(await count()).to.equal(before);
  });

  it('answers 415 for another content type and 400 for malformed JSON, storing nothing', async () => {
    const before = await count();
    const d = giteaDelivery('push.staging');
    const res = await svc.deliver({ ...d, headers: { ...d.headers, 'Content-Type': 'text/plain' } });
    expect(res.status).to.equal(415);
    const { signPayload } = await import('../../src/gitea/signature.js');
    const body = '{"ref": "refs/heads/main", ';
    const sig = signPayload(body, TEST_WEBHOOK_SECRET);
    const bad = await svc.deliver({ ...d, body, headers: { ...d.headers, 'X-Gitea-Signature': sig, 'X-Hub-Signature-256': `sha256=${sig}` } });
    expect(bad.status).to.equal(400);
    expect(bad.body.error.message).to.match(/JSON/);
    const noId = giteaDelivery('push.staging');
    delete noId.headers['X-Gitea-Delivery'];
    expect((await svc.deliver(noId)).status).to.equal(400);
    expect(await count()).to.equal(before);
  });

  it('answers a repeated delivery id with 200 and handles it once', async () => {
    const d = giteaDelivery('issues.labeled', { mutate: (p) => (p.issue.number = 51) });
    expect((await svc.deliver(d)).status).to.equal(202);
    const again = await svc.deliver(d);
    expect(again.status).to.equal(200);
    expect(again.body.status).to.equal('duplicate');
    await svc.settled(d.id);
    const rows = await svc.db('tasks').where({ issue_number: 51 });
    expect(rows).to.have.length(1);
    expect((await svc.deliveries.get(d.id))!.attempts).to.equal(1);
  });

  it('records an unknown event as ignored and answers 202', async () => {
    const d = giteaDelivery('status');
    const res = await svc.deliver(d);
    expect(res.status).to.equal(202);
    expect(res.body.status).to.equal('ignored');
    expect((await svc.deliveries.get(d.id))!.status).to.equal('ignored');
    const custom = giteaDelivery('push.staging', { mutate: () => undefined });
    custom.headers['X-Gitea-Event'] = 'wiki';
    custom.headers['X-Gitea-Event-Type'] = 'wiki';
    expect((await svc.deliver(custom)).status).to.equal(202);
    expect((await svc.deliveries.get(custom.id))!.status).to.equal('ignored');
  });

  it('ignores deliveries from repositories that are not projects', async () => {
    const d = giteaDelivery('issues.labeled', { mutate: (p) => (p.repository.full_name = 'someone/else') });
    await svc.deliver(d);
    expect(await svc.settled(d.id)).to.equal('ignored');
    const row = (await svc.api('GET', '/api/webhooks/deliveries?status=ignored')).body.deliveries.find((x: any) => x.id === d.id);
    expect(row.lastError).to.match(/not an aiworker project/);
  });

  it('handles 200 concurrent distinct deliveries exactly once each', async function () {
    this.timeout(60_000);
    const deliveries = Array.from({ length: 200 }, (_, i) =>
      giteaDelivery('issues.labeled', { mutate: (p) => (p.issue.number = 1000 + i) }),
    );
    const answers = await Promise.all(deliveries.map((d) => svc.deliver(d)));
    expect(answers.map((a) => a.status)).to.deep.equal(deliveries.map(() => 202));
    await Promise.all(deliveries.map((d) => svc.settled(d.id, 40_000)));
    const rows = await svc.db('webhook_deliveries').whereIn('delivery_id', deliveries.map((d) => d.id));
    expect(rows.map((r: any) => `${r.status}/${r.attempts}`)).to.deep.equal(rows.map(() => 'processed/1'));
    const tasks = await svc.db('tasks').whereBetween('issue_number', [1000, 1199]);
    expect(tasks).to.have.length(200);
  });

  it('replays a delivery: handled again, nothing doubles', async () => {
    const d = giteaDelivery('issues.labeled', { mutate: (p) => (p.issue.number = 77) });
    await svc.deliver(d);
    await svc.settled(d.id);
    const res = await svc.api('POST', `/api/webhooks/deliveries/${d.id}/replay`);
    expect(res.status).to.equal(202);
    await eventually(async () => (await svc.deliveries.get(d.id))!.attempts === 2, 10_000, 'replay handled');
    expect(await svc.settled(d.id)).to.equal('processed');
    expect(await svc.db('tasks').where({ issue_number: 77 })).to.have.length(1);
    expect((await svc.api('POST', '/api/webhooks/deliveries/nope/replay')).status).to.equal(404);
  });

  it('answers 503 when MySQL cannot store the delivery', async () => {
    const broken = await startTestService();
    try {
      await broken.db.destroy();
      const res = await broken.deliver(giteaDelivery('push.staging'));
      expect(res.status).to.equal(503);
      expect(res.body.error.code).to.equal('unavailable');
      const ready = await fetch(`${broken.url}/readyz`);
      expect(ready.status).to.equal(503);
      expect(((await ready.json()) as any).checks.mysql.status).to.equal('error');
    } finally {
      await broken.cleanup().catch(() => undefined);
    }
  });
});
