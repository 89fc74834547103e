import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv-provider.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import pkg from '../../package.json' with { type: 'json' };
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { AppError } from '../errors.js';
import { GiteaError, type GiteaClient } from '../gitea/client.js';
import type { Replier } from '../gitea/replies.js';
import type { KubeCluster } from '../k8s/cluster.js';
import type { Agent, AgentService } from '../agents/service.js';
import type { ProjectService } from '../projects/service.js';
import type { JobScheduler } from '../queue/scheduler.js';
import type { TaskService } from '../tasks/service.js';
import type { AnswerWaiter } from './answers.js';
import { TOOLS } from './tools/index.js';
import { ToolError, type Tool, type ToolContext } from './tools/types.js';
import { Toolset, toolError } from './toolset.js';

/** The part of the Gitea client the tools use. */
export type RepoApi = Pick<GiteaClient, 'ensureBranch' | 'createPull' | 'findPull'>;

/** What the MCP tools may use; built once by the process that serves MCP. */
export interface McpDeps {
  tasks: TaskService;
  projects: ProjectService;
  agents: AgentService;
  jobs: Pick<JobScheduler, 'deployPreview'>;
  replies: Replier;
  /** Null when Gitea is not configured: branch, PR and comment tools answer with an error saying so. */
  gitea: RepoApi | null;
  /** Null when Kubernetes is not configured: previews are dry-runs. */
  cluster: KubeCluster | null;
  config: Pick<Config, 'preview'>;
  answers: Pick<AnswerWaiter, 'waitFor'>;
  log: Logger;
}

const INSTRUCTIONS = `aiworker hands out coding tasks on Gitea repositories and tracks them to production.
Work loop: get_next_task claims a task (it becomes yours, in_progress); create_branch gives you its branch (from staging);
push your commits there; create_pr opens the pull request into staging; trigger_preview deploys a preview of its head.
Blocked? ask_user_question, then check_response with waitSeconds until answered. Hand a task back with update_task_status.
You act only on tasks assigned to you; get_task and list_tasks read any task. Call report_status when you go idle or offline;
agents silent for too long are marked offline and their in_progress tasks return to the backlog.`;

export const agentActor = (agent: Pick<Agent, 'id' | 'name'>) => `agent:${agent.name}#${agent.id}`;

const asResult = (value: Record<string, unknown>): CallToolResult => ({
  content: [{ type: 'text', text: JSON.stringify(value) }],
  structuredContent: value,
});

/** A tool call is a sign of life (one write); an agent marked offline (by itself or by the liveness sweep) is back. */
async function markSeen(deps: McpDeps, agentId: number, actor: string): Promise<void> {
  if (await deps.agents.touch(agentId)) return;
  const current = await deps.agents.get(agentId);
  await deps.agents.report(agentId, current.currentTaskId === null ? 'idle' : 'busy', undefined, actor);
}

/** Refusals and Gitea's answers reach the agent as they are; anything else is logged and reported without internals. */
function errorMessage(err: unknown, tool: string, log: Logger): string {
  if (err instanceof ToolError || err instanceof AppError || err instanceof GiteaError) return err.message;
  log.error({ err, tool }, 'MCP tool failed');
  return `${tool} failed inside aiworker (${(err as Error)?.name ?? 'error'}); the details are in its log. Try again later.`;
}

async function runTool(tool: Tool, args: unknown, deps: McpDeps, agent: Agent, signal: AbortSignal): Promise<CallToolResult> {
  const actor = agentActor(agent);
  const ctx: ToolContext = {
    deps,
    agent,
    actor,
    signal,
    async ownTask(taskId) {
      const task = await deps.tasks.find(taskId);
      if (!task) throw new ToolError(`task ${taskId} not found`);
      if (task.assignedAgentId !== agent.id) {
        const holder = task.assignedAgentId === null ? 'is not assigned to any agent' : `is assigned to agent ${task.assignedAgentId}`;
        throw new ToolError(`task ${taskId} ${holder}, not to you (agent ${agent.id}): agents act only on tasks they claimed with get_next_task`);
      }
      return task;
    },
  };
  try {
    if (tool.countsAsSeen) await markSeen(deps, agent.id, actor);
    return asResult(await tool.run(args, ctx));
  } catch (err) {
    return toolError(errorMessage(err, tool.name, deps.log));
  }
}

/** Runs one tool call as an agent: the one place a call is resolved, its arguments parsed and the tool run. */
export type ToolCaller = (agent: Agent, name: string, args: unknown, signal: AbortSignal) => Promise<CallToolResult>;

/** Makes the MCP server of one agent; everything that does not depend on the agent is built once, by mcpServers. */
export type McpServerFactory = (agent: Agent) => Server;

/** What every MCP server of a process shares: the tool caller and a factory of servers over it. */
export interface McpEndpoint {
  callTool: ToolCaller;
  serverFor: McpServerFactory;
}

/**
 * Builds once what every MCP server of this process shares (the tool list, argument parsers, the
 * JSON Schema validator) and returns a factory of servers, one per agent and connection. A server
 * per request is then a few objects: Streamable HTTP without sessions needs one per request, since a
 * server speaks on one transport at a time.
 */
export function mcpServers(deps: McpDeps, tools: readonly Tool[] = TOOLS): McpEndpoint {
  const toolset = new Toolset(tools);
  const listAnswer = { tools: toolset.listed };
  // The SDK builds an Ajv instance per server unless given one (milliseconds each): one serves all.
  const jsonSchemaValidator = new AjvJsonSchemaValidator();
  const callTool: ToolCaller = async (agent, name, args, signal) => {
    const resolved = toolset.resolve(name, args);
    if ('error' in resolved) return resolved.error;
    return runTool(resolved.tool, resolved.args, deps, agent, signal);
  };
  const serverFor: McpServerFactory = (agent) => {
    const server = new Server(
      { name: 'aiworker', version: pkg.version },
      { capabilities: { tools: { listChanged: true } }, instructions: INSTRUCTIONS, jsonSchemaValidator },
    );
    server.setRequestHandler(ListToolsRequestSchema, () => listAnswer);
    server.setRequestHandler(CallToolRequestSchema, (request, extra) => callTool(agent, request.params.name, request.params.arguments, extra.signal));
    return server;
  };
  return { callTool, serverFor };
}

/** An MCP server speaking for one authenticated agent; every tool acts as that agent. */
export function createMcpServer(deps: McpDeps, agent: Agent): Server {
  return mcpServers(deps).serverFor(agent);
}
