import http from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

/**
 * The agents of the claims benchmark, in a process of their own (argv: url, projectId, client; the
 * tokens on stdin). Each agent connects with the official MCP SDK client (initialize, initialized),
 * then calls get_next_task until it gets {task: null}, with one of two clients:
 * - `sdk`: the SDK client's callTool, as an agent built on it does;
 * - `lean`: the same JSON-RPC request on the same headers (Accept, Content-Type, MCP-Protocol-Version,
 *   Authorization) over a keep-alive connection, without the SDK's per-call validation, so that the
 *   load generator takes less of the machine's CPU from the service it measures.
 * Connecting is not measured. Prints the task ids each agent got, the seconds the race took and the
 * CPU time (ms) this process used in it.
 */
const [url, projectId, mode = 'lean'] = process.argv.slice(2);
const tokens: string[] = JSON.parse(await new Promise<string>((resolve) => {
  let input = '';
  process.stdin.on('data', (d) => (input += d));
  process.stdin.on('end', () => resolve(input));
}));

interface Agent {
  claim(): Promise<{ id: number } | null>;
  close(): Promise<void>;
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: tokens.length });

/** One tools/call over node:http, as the SDK client sends it once connected. */
function leanCall(token: string, protocolVersion: string, id: number): Promise<CallToolResult> {
  const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'get_next_task', arguments: { projectId: Number(projectId) } } });
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/mcp`, {
      method: 'POST',
      agent: keepAlive,
      headers: {
        accept: 'application/json, text/event-stream',
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'mcp-protocol-version': protocolVersion,
        authorization: `Bearer ${token}`,
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`tools/call answered ${res.statusCode}: ${text}`));
        const answer = JSON.parse(text);
        if (answer.id !== id || !answer.result) return reject(new Error(`tools/call answered ${text}`));
        resolve(answer.result);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const agents: Agent[] = await Promise.all(
  tokens.map(async (token): Promise<Agent> => {
    const client = new Client({ name: 'aiworker-bench', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
    await client.connect(transport);
    let nextId = 1000;
    const call = mode === 'sdk'
      ? () => client.callTool({ name: 'get_next_task', arguments: { projectId: Number(projectId) } }) as Promise<CallToolResult>
      : () => leanCall(token, transport.protocolVersion!, nextId++);
    return {
      async claim() {
        const result = await call();
        if (result.isError) throw new Error(`get_next_task failed: ${JSON.stringify(result.content)}`);
        return (result.structuredContent as { task: { id: number } | null }).task;
      },
      close: () => client.close(),
    };
  }),
);
process.stdout.write('connected\n');
const started = process.hrtime.bigint();
const cpuBefore = process.cpuUsage();
const claimed = await Promise.all(
  agents.map(async (agent) => {
    const ids: number[] = [];
    for (let task = await agent.claim(); task; task = await agent.claim()) ids.push(task.id);
    return ids;
  }),
);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const cpu = process.cpuUsage(cpuBefore);
const agentsCpuMs = (cpu.user + cpu.system) / 1000;
await Promise.all(agents.map((a) => a.close()));
keepAlive.destroy();
process.stdout.write(JSON.stringify({ claimed, seconds, agentsCpuMs }));
