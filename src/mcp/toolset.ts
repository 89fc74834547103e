import { z } from 'zod';
import type { CallToolResult, Tool as ListedTool } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { Tool } from './tools/types.js';

/** A tool with what the protocol needs of it prepared once: its listed form and its argument parser. */
interface PreparedTool {
  tool: Tool;
  args: z.ZodObject;
}

/** How a tool error reads to the agent: the SDK's own wording, so clients see what they would from any MCP server. */
export const toolError = (message: string): CallToolResult => ({ content: [{ type: 'text', text: message }], isError: true });

/** "message at path" per issue, one per line, as MCP servers word argument errors. */
function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.message} at ${i.path.map(String).join('.')}` : i.message)).join('\n');
}

/**
 * The tools as the protocol sees them, built once per process: the tools/list answer (JSON Schemas
 * derived from the zod inputs) and one argument parser per tool. Serving a request then costs no
 * schema work; only the call's own arguments are parsed.
 */
export class Toolset {
  readonly listed: ListedTool[];
  private readonly byName = new Map<string, PreparedTool>();

  constructor(tools: readonly Tool[]) {
    this.listed = tools.map((tool) => {
      const args = z.object(tool.input);
      this.byName.set(tool.name, { tool, args });
      return {
        name: tool.name,
        description: tool.description,
        inputSchema: z.toJSONSchema(args, { target: 'draft-7', io: 'input' }) as ListedTool['inputSchema'],
        annotations: { readOnlyHint: tool.readOnly },
      };
    });
  }

  /**
   * The tool and its parsed arguments, or the tool error an unknown tool or bad arguments get
   * (a tool error, not a protocol error, so the agent reads why and can correct the call).
   */
  resolve(name: string, rawArgs: unknown): { tool: Tool; args: unknown } | { error: CallToolResult } {
    const prepared = this.byName.get(name);
    if (!prepared) return { error: toolError(new McpError(ErrorCode.InvalidParams, `Tool ${name} not found`).message) };
    const parsed = prepared.args.safeParse(rawArgs ?? {});
    if (!parsed.success) {
      const why = `Input validation error: Invalid arguments for tool ${name}: ${describeIssues(parsed.error)}`;
      return { error: toolError(new McpError(ErrorCode.InvalidParams, why).message) };
    }
    return { tool: prepared.tool, args: parsed.data };
  }
}
