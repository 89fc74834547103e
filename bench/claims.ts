import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuMsOf } from './processes.js';
import type { Aiworker } from './service.js';

export interface ClaimsBench {
  agents: number;
  tasks: number;
  seconds: number;
  claimsPerSecond: number;
  /** CPU time of the service per claim (µs). */
  serviceCpuUs: number | null;
}

/** Runs the agents' process (claims-child.ts) and returns what it printed. */
function race(url: string, projectId: number, tokens: string[]): Promise<{ claimed: number[][]; seconds: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./claims-child.ts', import.meta.url)), url, String(projectId)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`the agents' process exited with ${code}`))));
    child.stdin.end(JSON.stringify(tokens));
  });
}

/**
 * `agents` agents, each with its own token, race for `tasks` backlog tasks through MCP over
 * Streamable HTTP against a running service; the agents run in a process of their own. Throws if a
 * task was handed out twice or left unclaimed.
 */
export async function benchClaims(service: Aiworker, agents = 50, tasks = 500): Promise<ClaimsBench> {
  const project = await service.api('POST', '/api/projects', { name: 'Claims bench', repo: `bench/claims-${Date.now()}` });
  for (let i = 0; i < tasks; i += 25) {
    await Promise.all(Array.from({ length: Math.min(25, tasks - i) }, (_, j) => service.api('POST', '/api/tasks', { projectId: project.id, title: `Task ${i + j}` })));
  }
  const tokens: string[] = [];
  for (let i = 0; i < agents; i++) tokens.push((await service.api('POST', '/api/agents', { name: `bench-agent-${i}` })).token);

  const cpuBefore = cpuMsOf(service.pid);
  const { claimed, seconds } = await race(service.url, project.id, tokens);
  const cpuAfter = cpuMsOf(service.pid);
  const ids = claimed.flat();
  if (ids.length !== tasks || new Set(ids).size !== tasks) {
    throw new Error(`claims went wrong: ${ids.length} claims of ${new Set(ids).size} distinct tasks, ${tasks} expected`);
  }
  const serviceCpuUs = cpuBefore === null || cpuAfter === null ? null : ((cpuAfter - cpuBefore) * 1000) / tasks;
  return { agents, tasks, seconds, claimsPerSecond: tasks / seconds, serviceCpuUs };
}
