import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Readable, Writable } from 'node:stream';
import { createMcpServer, type McpDeps } from './server.js';

/** The stdio server cannot start: the message names AIWORKER_AGENT_TOKEN and what is wrong with it. */
export class AgentTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentTokenError';
  }
}

export function requireAgentToken(token: string | null | undefined): string {
  if (!token) throw new AgentTokenError('AIWORKER_AGENT_TOKEN is not set: set it to the agent token that POST /api/agents issued');
  return token;
}

/**
 * Serves MCP over stdin/stdout as the agent the token names, until stdin ends (the client went
 * away). The token is checked before any message is read: a wrong one is an AgentTokenError.
 */
export async function runStdio(
  deps: McpDeps,
  token: string | null | undefined,
  io: { stdin: Readable; stdout: Writable } = { stdin: process.stdin, stdout: process.stdout },
): Promise<void> {
  const agent = await deps.agents.authenticate(requireAgentToken(token));
  if (!agent) {
    throw new AgentTokenError('AIWORKER_AGENT_TOKEN is not a valid agent token: use the token POST /api/agents returned when the agent was created');
  }
  const server = createMcpServer(deps, agent);
  const ended = new Promise<void>((resolve) => {
    io.stdin.once('end', resolve);
    io.stdin.once('close', resolve);
  });
  await server.connect(new StdioServerTransport(io.stdin, io.stdout));
  deps.log.info({ agentId: agent.id, agent: agent.name }, 'serving MCP on stdio');
  await ended;
  await server.close();
}
