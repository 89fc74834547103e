import { expect } from 'chai';
import { createProject, createTask, startTestService, type TestService } from '../support/service.js';

describe('Redis cache', function () {
  let svc: TestService;
  let project: any;
  before(async () => {
    svc = await startTestService();
    project = await createProject(svc);
  });
  after(async () => svc?.cleanup());

  const keys = async () => svc.redis.keys(`${svc.config.redisPrefix}:cache:*`);

  it('caches tasks, task lists, projects and agents with their TTLs', async () => {
    const t = await createTask(svc, project.id);
    await svc.api('GET', `/api/tasks/${t.id}`);
    await svc.api('GET', `/api/tasks?projectId=${project.id}`);
    await svc.api('GET', `/api/projects/${project.id}`);
    await svc.api('GET', '/api/agents');
    const ttl = async (pattern: string) => {
      const [key] = (await keys()).filter((k) => k.includes(pattern));
      expect(key, pattern).to.be.a('string');
      return svc.redis.ttl(key);
    };
    expect(await ttl(`:task:${t.id}@`)).to.be.within(290, 300);
    expect(await ttl(`:tasklist:${project.id}:`)).to.be.within(110, 120);
    expect(await ttl(`:project:${project.id}@`)).to.be.within(590, 600);
    expect(await ttl(':agents:')).to.be.within(20, 30);
  });

  it('serves a cached task without asking MySQL', async () => {
    const t = await createTask(svc, project.id, 'cached');
    await svc.api('GET', `/api/tasks/${t.id}`);
    // Changed behind the service's back: the cache still answers with what it holds.
    await svc.db('tasks').where({ id: t.id }).update({ title: 'changed in MySQL directly' });
    expect((await svc.api('GET', `/api/tasks/${t.id}`)).body.title).to.equal('cached');
  });

  it('never returns a stale value right after an update', async () => {
    const t = await createTask(svc, project.id, 'v0');
    for (let i = 1; i <= 30; i++) {
      await svc.api('GET', `/api/tasks/${t.id}`);
      await svc.api('GET', `/api/tasks?projectId=${project.id}`);
      await svc.api('PATCH', `/api/tasks/${t.id}`, { title: `v${i}` });
      expect((await svc.api('GET', `/api/tasks/${t.id}`)).body.title).to.equal(`v${i}`);
      const list = await svc.api('GET', `/api/tasks?projectId=${project.id}`);
      expect(list.body.tasks.find((x: any) => x.id === t.id).title).to.equal(`v${i}`);
    }
  });

  it('never caches a stale read that raced with a write', async () => {
    const t = await createTask(svc, project.id, 'race-0');
    for (let i = 1; i <= 20; i++) {
      // Reads and a write in flight together; once the write answered, reads must see it.
      const reads = Array.from({ length: 5 }, () => svc.api('GET', `/api/tasks/${t.id}`));
      await svc.api('PATCH', `/api/tasks/${t.id}`, { title: `race-${i}` });
      await Promise.all(reads);
      expect((await svc.api('GET', `/api/tasks/${t.id}`)).body.title).to.equal(`race-${i}`);
    }
  });

  it('shows a new agent at once despite the cached list', async () => {
    await svc.api('GET', '/api/agents');
    const created = await svc.api('POST', '/api/agents', { name: 'fresh' });
    const list = await svc.api('GET', '/api/agents');
    expect(list.body.agents.map((a: any) => a.id)).to.include(created.body.id);
  });

  it('keeps answering from MySQL when Redis commands fail', async () => {
    const t = await createTask(svc, project.id, 'no-redis');
    const original = svc.redis.get.bind(svc.redis);
    (svc.redis as any).get = async () => {
      throw new Error('Connection is closed.');
    };
    try {
      expect((await svc.api('GET', `/api/tasks/${t.id}`)).body.title).to.equal('no-redis');
    } finally {
      (svc.redis as any).get = original;
    }
  });
});
