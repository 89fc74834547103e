import { callTool, startMcpHarness } from '../test/support/mcp-harness.js';

export interface ClaimsBench {
  agents: number;
  tasks: number;
  seconds: number;
  claimsPerSecond: number;
}

/**
 * Agents racing for the backlog through MCP over Streamable HTTP: each calls get_next_task until
 * it gets {task: null}. Measured from the first call to the last answer; connecting is not measured.
 * Throws if a task was handed out twice or left unclaimed.
 */
export async function benchClaims(agents = 50, tasks = 500): Promise<ClaimsBench> {
  const h = await startMcpHarness({ ROLE: 'web' });
  try {
    const project = (await h.api('POST', '/api/projects', { name: 'Bench', repo: 'acme/bench' })).body;
    for (let i = 0; i < tasks; i += 50) {
      const batch = Math.min(50, tasks - i);
      await Promise.all(Array.from({ length: batch }, (_, j) => h.deps.tasks.create({ projectId: project.id, title: `Task ${i + j}`, actor: 'bench' })));
    }
    const tokens = await Promise.all(Array.from({ length: agents }, async (_, i) => (await h.createAgent(`bench-${i}`)).token));
    const clients = await Promise.all(tokens.map((t) => h.connect(t)));

    const started = process.hrtime.bigint();
    const claimed = await Promise.all(
      clients.map(async (client) => {
        const ids: number[] = [];
        for (;;) {
          const { task } = await callTool(client, 'get_next_task', { projectId: project.id });
          if (!task) return ids;
          ids.push(task.id);
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;

    const ids = claimed.flat();
    if (ids.length !== tasks || new Set(ids).size !== tasks) {
      throw new Error(`claims went wrong: ${ids.length} claims of ${new Set(ids).size} distinct tasks, ${tasks} expected`);
    }
    return { agents, tasks, seconds, claimsPerSecond: tasks / seconds };
  } finally {
    await h.close();
  }
}
