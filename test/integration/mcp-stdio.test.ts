import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { REDIS_URL } from '../support/service.js';
import { callTool, startMcpHarness, type McpHarness } from '../support/mcp-harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `aiworker mcp` as an MCP client launches it, against the harness's database and Redis prefix. */
function cliEnv(h: McpHarness, token: string | null): Record<string, string> {
  return {
    ...getDefaultEnvironment(),
    DATABASE_URL: h.svc.config.databaseUrl,
    REDIS_URL,
    REDIS_PREFIX: h.svc.config.redisPrefix,
    LOG_LEVEL: 'silent',
    ...(token === null ? {} : { AIWORKER_AGENT_TOKEN: token }),
  };
}

function runCli(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['tsx', 'src/cli.ts', 'mcp'], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('MCP over stdio (aiworker mcp)', function () {
  this.timeout(60_000);
  let h: McpHarness;
  let project: any;

  before(async () => {
    h = await startMcpHarness();
    project = (await h.api('POST', '/api/projects', { name: 'Web app', repo: 'acme/webapp' })).body;
  });
  after(async () => h?.close());

  it('serves the tools as the agent of AIWORKER_AGENT_TOKEN, wakes on an answer from another process, and exits when stdin closes', async () => {
    const agent = await h.createAgent('stdio-agent');
    const task = (await h.api('POST', '/api/tasks', { projectId: project.id, title: 'Over stdio' })).body;
    const transport = new StdioClientTransport({ command: 'npx', args: ['tsx', 'src/cli.ts', 'mcp'], cwd: ROOT, env: cliEnv(h, agent.token), stderr: 'pipe' });
    let stderr = '';
    transport.stderr?.on('data', (d) => (stderr += d));
    const client = new Client({ name: 'aiworker-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools).to.have.length(11);
      const claimed = await callTool(client, 'get_next_task', { projectId: project.id });
      expect(claimed.task).to.include({ id: task.id, state: 'in_progress', assignedAgentId: agent.id });
      await callTool(client, 'ask_user_question', { taskId: task.id, question: 'Which font?' });

      const started = Date.now();
      const waiting = callTool(client, 'check_response', { taskId: task.id, waitSeconds: 30 });
      await new Promise((r) => setTimeout(r, 500));
      expect((await h.api('POST', `/api/tasks/${task.id}/respond`, { response: 'Inter' })).status).to.equal(200);
      expect(await waiting).to.deep.equal({ answered: true, response: 'Inter' });
      expect(Date.now() - started).to.be.below(10_000);
    } finally {
      const closing = Date.now();
      await client.close();
      // The client ends stdin and waits 2 s before it signals: a quicker close means the server exited on its own.
      expect(Date.now() - closing, stderr).to.be.below(2000);
    }
  });

  it('exits non-zero naming AIWORKER_AGENT_TOKEN when the token is wrong or missing, before serving anything', async () => {
    const wrong = await runCli(cliEnv(h, 'aiw_wrong-token'));
    expect(wrong.code).to.equal(2);
    expect(wrong.stderr).to.match(/AIWORKER_AGENT_TOKEN is not a valid agent token/);
    expect(wrong.stdout).to.equal('');
    const missing = await runCli(cliEnv(h, null));
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.match(/AIWORKER_AGENT_TOKEN is not set/);
  });
});
