import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
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

const asError = (message: string): CallToolResult => ({ content: [{ type: 'text', text: message }], isError: true });

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
    return asError(errorMessage(err, tool.name, deps.log));
  }
}

/** An MCP server speaking for one authenticated agent; every tool acts as that agent. */
export function createMcpServer(deps: McpDeps, agent: Agent): McpServer {
  const server = new McpServer({ name: 'aiworker', version: pkg.version }, { instructions: INSTRUCTIONS });
  for (const tool of TOOLS) {
    server.registerTool(
      tool.name,
      { description: tool.description, inputSchema: tool.input, annotations: { readOnlyHint: tool.readOnly } },
      (args: unknown, extra) => runTool(tool, args, deps, agent, extra.signal),
    );
  }
  return server;
}
