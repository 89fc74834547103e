import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuMsOf, pidOf } from './processes.js';
import type { Aiworker } from './service.js';

/** How the agents call once connected: the SDK client's callTool, or the same request over plain HTTP (claims-child.ts). */
export type AgentClient = 'sdk' | 'lean';

export interface ClaimsBench {
  client: AgentClient;
  agents: number;
  tasks: number;
  seconds: number;
  claimsPerSecond: number;
  /** CPU time per claim (µs) of the service, mysqld and redis, from the agents' first call to their last. */
  cpuUs: { service: number | null; mysqld: number | null; redis: number | null; agents: number };
}

/** Runs the agents' process (claims-child.ts) and returns what it printed. */
function race(url: string, projectId: number, client: AgentClient, tokens: string[], onConnected: () => void): Promise<{ claimed: number[][]; seconds: number; agentsCpuMs: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./claims-child.ts', import.meta.url)), url, String(projectId), client], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    let connected = false;
    child.stdout.on('data', (d) => {
      out += d;
      if (!connected && out.startsWith('connected\n')) {
        connected = true;
        out = out.slice('connected\n'.length);
        onConnected();
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`the agents' process exited with ${code}`))));
    child.stdin.end(JSON.stringify(tokens));
  });
}

/**
 * `agents` agents, each with its own token, race for `tasks` backlog tasks through MCP over
 * Streamable HTTP against a running service; the agents run in a process of their own and call with
 * `client` (claims-child.ts). CPU is counted from the first call to the last. Throws if a
 * task was handed out twice or left unclaimed.
 */
export async function benchClaims(service: Aiworker, client: AgentClient, agents = 50, tasks = 500): Promise<ClaimsBench> {
  const project = await service.api('POST', '/api/projects', { name: 'Claims bench', repo: `bench/claims-${Date.now()}` });
  for (let i = 0; i < tasks; i += 25) {
    await Promise.all(Array.from({ length: Math.min(25, tasks - i) }, (_, j) => service.api('POST', '/api/tasks', { projectId: project.id, title: `Task ${i + j}` })));
  }
  const tokens: string[] = [];
  for (let i = 0; i < agents; i++) tokens.push((await service.api('POST', '/api/agents', { name: `bench-agent-${i}` })).token);

  const pids = { service: service.pid, mysqld: await pidOf('mariadbd'), redis: await pidOf('redis-server') };
  const sample = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, pid === null ? null : cpuMsOf(pid)])) as Record<keyof typeof pids, number | null>;
  let before = sample();
  const { claimed, seconds, agentsCpuMs } = await race(service.url, project.id, client, tokens, () => (before = sample()));
  const after = sample();
  const ids = claimed.flat();
  if (ids.length !== tasks || new Set(ids).size !== tasks) {
    throw new Error(`claims went wrong: ${ids.length} claims of ${new Set(ids).size} distinct tasks, ${tasks} expected`);
  }
  const perClaim = (k: keyof typeof pids) => {
    const [b, a] = [before[k], after[k]];
    return b === null || a === null ? null : ((a - b) * 1000) / tasks;
  };
  return { client, agents, tasks, seconds, claimsPerSecond: tasks / seconds, cpuUs: { service: perClaim('service'), mysqld: perClaim('mysqld'), redis: perClaim('redis'), agents: (agentsCpuMs * 1000) / tasks } };
}
