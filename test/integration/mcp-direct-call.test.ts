import { expect } from 'chai';
import { startMcpHarness, type McpHarness } from '../support/mcp-harness.js';

/**
 * A single tools/call is answered without the SDK's transport (src/mcp/direct-call.ts). The same
 * request sent as a batch of one goes through the SDK: both must answer alike, status, media type
 * and JSON-RPC body, whatever the tool answers (a task, nothing, an error of the tool, of the
 * arguments, an unknown tool).
 */
describe('MCP tools/call answered directly, as the SDK answers it', function () {
  let h: McpHarness;
  let token: string;
  let projectId: number;

  before(async () => {
    h = await startMcpHarness();
    projectId = (await h.api('POST', '/api/projects', { name: 'Direct', repo: 'acme/direct' })).body.id;
    token = (await h.createAgent('direct')).token;
    await h.connect(token);
  });
  after(() => h?.close());

  const post = async (message: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${h.url}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-06-18',
        ...headers,
      },
      body: JSON.stringify(message),
    });
    return { status: res.status, type: res.headers.get('content-type'), body: await res.json() };
  };
  const request = (id: number, name: string, args?: Record<string, unknown>) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

  it('answers each kind of call with the same status, media type and body as the SDK path', async () => {
    const calls: Array<[string, Record<string, unknown> | undefined]> = [
      ['list_tasks', { projectId, state: 'backlog' }],
      ['get_task', { taskId: 999999 }],
      ['get_task', { taskId: 'seven' }],
      ['no_such_tool', {}],
      ['update_task_status', { taskId: 999999, state: 'backlog' }],
      ['get_next_task', { projectId }],
    ];
    for (const [i, [name, args]] of calls.entries()) {
      const direct = await post(request(i + 1, name, args));
      const viaSdk = await post([request(i + 1, name, args)]);
      expect(direct, `${name} ${JSON.stringify(args)}`).to.deep.equal(viaSdk);
      expect(direct.status).to.equal(200);
      expect(direct.type).to.equal('application/json');
    }
  });

  it('hands out a task through either path, each once', async () => {
    for (const title of ['One', 'Two']) await h.api('POST', '/api/tasks', { projectId, title });
    const direct = await post(request(20, 'get_next_task', { projectId }));
    const viaSdk = await post([request(21, 'get_next_task', { projectId })]);
    expect(direct.body).to.include({ jsonrpc: '2.0', id: 20 });
    expect(viaSdk.body).to.include({ jsonrpc: '2.0', id: 21 });
    const titles = [direct, viaSdk].map((r) => r.body.result.structuredContent.task.title);
    expect(titles).to.deep.equal(['One', 'Two']);
  });

  it('leaves refusals to the SDK: a client that does not accept event streams gets 406, an unknown protocol version 400', async () => {
    const notAcceptable = await post(request(30, 'list_tasks', {}), { accept: 'application/json' });
    expect(notAcceptable.status).to.equal(406);
    expect(notAcceptable.body.error.code).to.equal(-32000);
    const badVersion = await post(request(31, 'list_tasks', {}), { 'mcp-protocol-version': '1999-01-01' });
    expect(badVersion.status).to.equal(400);
    expect(badVersion.body.error.message).to.match(/Unsupported protocol version/);
  });
});
