import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { callTool } from '../support/mcp-harness.js';
import { createProject, dropTestState, eventually, startTestService, uniqueName, type TestService } from '../support/service.js';

const AGENTS = 50;
const TASKS = 300;
/** Replica B trusts a token it looked up for this long. */
const TOKEN_CACHE_SECONDS = 1;

async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'claims-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

/** A JSON-RPC call with a token, answered by status: 401 once the token is refused. */
async function mcpStatus(url: string, token: string): Promise<number> {
  const res = await fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('claims over MCP by many agents on two replicas', function () {
  // A shared 2-core machine may take minutes for the race; its speed is the benchmark's business.
  this.timeout(180_000);
  const name = uniqueName();
  let a: TestService;
  let b: TestService;
  const clients: Client[] = [];

  before(async () => {
    a = await startTestService({}, {}, { name });
    b = await startTestService({ AGENT_TOKEN_CACHE_SECONDS: String(TOKEN_CACHE_SECONDS) }, {}, { name });
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await a?.cleanup();
    await b?.cleanup();
    await dropTestState(name);
  });

  it(`${AGENTS} agents racing for ${TASKS} tasks through both replicas never get the same task, and each ends busy on its last one`, async () => {
    const project = await createProject(a, { repo: 'acme/claim-race' });
    for (let i = 0; i < TASKS; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, TASKS - i) }, (_, j) => a.api('POST', '/api/tasks', { projectId: project.id, title: `Task ${i + j}` })));
    }
    const agents = await Promise.all(Array.from({ length: AGENTS }, async (_, i) => (await a.api('POST', '/api/agents', { name: `racer-${i}` })).body));
    const racers = await Promise.all(agents.map(async (agent, i) => ({ agent, client: await connect((i % 2 ? b : a).url, agent.token) })));
    clients.push(...racers.map((r) => r.client));

    const claimed = await Promise.all(
      racers.map(async ({ agent, client }) => {
        const ids: number[] = [];
        for (;;) {
          const { task } = await callTool(client, 'get_next_task', { projectId: project.id });
          if (!task) return { agent, ids };
          expect(task).to.include({ state: 'in_progress', assignedAgentId: agent.id, projectId: project.id });
          ids.push(task.id);
        }
      }),
    );

    const all = claimed.flatMap((c) => c.ids);
    expect(all, 'claims').to.have.length(TASKS);
    expect(new Set(all).size, 'distinct tasks').to.equal(TASKS);
    const { body } = await a.api('GET', `/api/tasks?projectId=${project.id}&limit=1000`);
    const owner = new Map(claimed.flatMap((c) => c.ids.map((id) => [id, c.agent.id])));
    for (const task of body.tasks) expect(task, `task ${task.id}`).to.include({ state: 'in_progress', assignedAgentId: owner.get(task.id) });
    const events = await a.db('task_events').where({ project_id: project.id, type: 'task:status_changed', to_state: 'in_progress' }).select('task_id');
    expect(events.map((e: { task_id: number }) => e.task_id).sort((x: number, y: number) => x - y), 'one claim event per task').to.deep.equal([...all].sort((x, y) => x - y));
    const { body: listed } = await a.api('GET', '/api/agents?limit=1000');
    for (const { agent, ids } of claimed) {
      const row = listed.agents.find((x: { id: number }) => x.id === agent.id);
      if (ids.length) expect(row, agent.name).to.include({ status: 'busy', currentTaskId: ids[ids.length - 1] });
    }
  });

  it('refuses a revoked token at once where it was revoked, and on the other replica within its token cache time', async () => {
    const agent = (await a.api('POST', '/api/agents', { name: 'revoked-soon' })).body;
    expect(await mcpStatus(a.url, agent.token)).to.equal(200);
    // B looks the token up and keeps it for TOKEN_CACHE_SECONDS.
    expect(await mcpStatus(b.url, agent.token)).to.equal(200);

    const revoked = await a.api('DELETE', `/api/agents/${agent.id}`);
    expect(revoked.status).to.equal(200);
    expect(revoked.body).to.include({ id: agent.id, status: 'offline', currentTaskId: null });
    expect(await mcpStatus(a.url, agent.token), 'the replica that revoked it').to.equal(401);
    // Bounded by the cache time (with room for a slow machine), not timed for speed.
    await eventually(async () => (await mcpStatus(b.url, agent.token)) === 401, (TOKEN_CACHE_SECONDS + 10) * 1000, 'replica B to refuse the revoked token');
    expect(await mcpStatus(b.url, agent.token), 'and from then on').to.equal(401);

    expect((await a.api('DELETE', `/api/agents/${agent.id}`)).status, 'revoking twice').to.equal(200);
    expect((await a.api('DELETE', '/api/agents/987654')).status).to.equal(404);
    expect((await a.api('DELETE', '/api/agents/nope')).status).to.equal(400);
  });
});
