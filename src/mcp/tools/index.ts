import type { Tool } from './types.js';
import { getNextTask, getTask, listTasks, reportStatus, updateTaskStatus } from './tasks.js';
import { askUserQuestion, checkResponse } from './questions.js';
import { addComment, createBranch, createPr } from './gitea.js';
import { triggerPreview } from './previews.js';

/** The single list of MCP tools (SPEC §5); a new tool is a definition in its toolset file and one entry here. */
export const TOOLS: readonly Tool[] = [
  getNextTask,
  getTask,
  listTasks,
  askUserQuestion,
  checkResponse,
  updateTaskStatus,
  createBranch,
  createPr,
  triggerPreview,
  addComment,
  reportStatus,
];
