import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

/**
 * The agents of the claims benchmark, in a process of their own: one MCP client per token (argv:
 * url, projectId, then the tokens on stdin), each calling get_next_task until it gets {task: null}.
 * Connecting is not measured. Prints the task ids each agent got and the seconds the race took.
 */
const [url, projectId] = process.argv.slice(2);
const tokens: string[] = JSON.parse(await new Promise<string>((resolve) => {
  let input = '';
  process.stdin.on('data', (d) => (input += d));
  process.stdin.on('end', () => resolve(input));
}));
const clients = await Promise.all(
  tokens.map(async (token) => {
    const client = new Client({ name: 'aiworker-bench', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    return client;
  }),
);
const started = process.hrtime.bigint();
const claimed = await Promise.all(
  clients.map(async (client) => {
    const ids: number[] = [];
    for (;;) {
      const result = (await client.callTool({ name: 'get_next_task', arguments: { projectId: Number(projectId) } })) as CallToolResult;
      if (result.isError) throw new Error(`get_next_task failed: ${JSON.stringify(result.content)}`);
      const task = (result.structuredContent as { task: { id: number } | null }).task;
      if (!task) return ids;
      ids.push(task.id);
    }
  }),
);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
await Promise.all(clients.map((c) => c.close()));
process.stdout.write(JSON.stringify({ claimed, seconds }));
