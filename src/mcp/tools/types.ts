import { z } from 'zod';
import type { Agent } from '../../agents/service.js';
import type { Task } from '../../tasks/model.js';
import type { McpDeps } from '../server.js';

/** What a tool sees of the call: the services, the calling agent and the request's abort signal. */
export interface ToolContext {
  deps: McpDeps;
  agent: Agent;
  /** Who the task events name as having acted. */
  actor: string;
  signal: AbortSignal;
  /** The task, when it is assigned to the calling agent; otherwise a ToolError saying whose it is. */
  ownTask(taskId: number): Promise<Task>;
}

/** A refusal the agent can act on; its message is the tool error's text. */
export class ToolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ToolError';
  }
}

export type ToolResult = Record<string, unknown>;

export interface ToolDefinition<S extends z.ZodRawShape> {
  /** snake_case verb_noun, as SPEC §5 names it */
  name: string;
  description: string;
  input: S;
  readOnly: boolean;
  /** False for tools that report the agent's status themselves (the call is not also a generic sign of life). */
  countsAsSeen?: boolean;
  run(args: z.output<z.ZodObject<S>>, ctx: ToolContext): Promise<ToolResult>;
}

/** A tool with its argument type erased, so tools with different inputs share one registry. */
export interface Tool {
  name: string;
  description: string;
  input: z.ZodRawShape;
  readOnly: boolean;
  countsAsSeen: boolean;
  run(args: unknown, ctx: ToolContext): Promise<ToolResult>;
}

export function defineTool<S extends z.ZodRawShape>(def: ToolDefinition<S>): Tool {
  return {
    name: def.name,
    description: def.description,
    input: def.input,
    readOnly: def.readOnly,
    countsAsSeen: def.countsAsSeen ?? true,
    // The SDK has parsed the arguments against `input` before the call reaches here.
    run: (args, ctx) => def.run(args as z.output<z.ZodObject<S>>, ctx),
  };
}

export const taskIdField = z.number().int().positive().describe('The task id, as get_next_task, get_task or list_tasks show it.');
