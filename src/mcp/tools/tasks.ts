import { z } from 'zod';
import { AGENT_STATUSES } from '../../agents/service.js';
import { TASK_STATES } from '../../tasks/states.js';
import { defineTool, taskIdField, ToolError } from './types.js';

const projectIdField = z.number().int().positive();

export const getNextTask = defineTool({
  name: 'get_next_task',
  description:
    'Claim the oldest task waiting in the backlog, optionally of one project. The task moves to in_progress, is assigned to you, ' +
    'and you are reported busy on it. Returns {task}, or {task: null} when nothing is waiting. ' +
    'Safe for many agents at once: a task is never handed to two agents.',
  input: {
    projectId: projectIdField.optional().describe('Only claim a task of this project; omit to take the oldest task of any project.'),
  },
  readOnly: false,
  async run({ projectId }, { deps, agent, actor }) {
    // The claim records the agent busy on the task in its own transaction.
    return { task: await deps.tasks.claimNext(agent.id, actor, projectId) };
  },
});

export const getTask = defineTool({
  name: 'get_task',
  description:
    "Read one task (yours or another agent's) with its questions, their answers, and the review feedback left for it (each with the review's line comments: path, line, body). Returns the task.",
  input: { taskId: taskIdField },
  readOnly: true,
  async run({ taskId }, { deps }) {
    return { ...(await deps.tasks.get(taskId)) };
  },
});

export const listTasks = defineTool({
  name: 'list_tasks',
  description: 'List tasks, oldest first, optionally of one project and in one state. Returns {tasks, total}; page with limit and offset.',
  input: {
    projectId: projectIdField.optional().describe('Only tasks of this project.'),
    state: z.enum(TASK_STATES).optional().describe('Only tasks in this state.'),
    limit: z.number().int().min(1).max(1000).default(100).describe('How many tasks to return (1 to 1000, default 100).'),
    offset: z.number().int().min(0).default(0).describe('How many tasks to skip, for the next page (default 0).'),
  },
  readOnly: true,
  async run({ projectId, state, limit, offset }, { deps }) {
    return deps.tasks.list({ projectId, state }, { limit, offset });
  },
});

export const updateTaskStatus = defineTool({
  name: 'update_task_status',
  description:
    "Move a task you hold to another state, as aiworker's state machine allows: e.g. in_progress -> ready_to_test (a project without previews), " +
    'in_progress -> backlog to hand it back. A refused move is an error naming the states the target is entered from. ' +
    'Ask questions with ask_user_question rather than moving to needs_input; approving and cancelling are left to people. Returns the task.',
  input: {
    taskId: taskIdField,
    state: z.enum(TASK_STATES).describe('The state to move the task to.'),
    note: z.string().trim().min(1).max(2000).optional().describe("Why; kept in the task's history."),
  },
  readOnly: false,
  async run({ taskId, state, note }, { deps, agent, actor, ownTask }) {
    await ownTask(taskId);
    if (state === 'needs_input') {
      throw new ToolError(`use ask_user_question to put task ${taskId} in needs_input: the question is what a person answers`);
    }
    // SPEC §2: approval comes from a person with write access, cancelling from /cancel or the REST API.
    if (state === 'approved' || state === 'cancelled') {
      throw new ToolError(`agents cannot move a task to ${state}: a person does that on the pull request (${state === 'approved' ? 'a review approval or /approve' : '/cancel'}) or through the REST API`);
    }
    await deps.tasks.transition(taskId, state, { source: 'agent', actor, reason: note ?? `set to ${state} by the agent` });
    // A task handed back is no longer what the agent works on.
    if (state === 'backlog') {
      const me = await deps.agents.get(agent.id);
      if (me.currentTaskId === taskId) await deps.agents.report(agent.id, 'idle', null, actor);
    }
    return { ...(await deps.tasks.get(taskId)) };
  },
});

export const reportStatus = defineTool({
  name: 'report_status',
  description:
    'Tell aiworker what you are doing: idle, busy (optionally on taskId) or offline. Every tool call also counts as a sign of life; ' +
    'an agent silent for longer than AGENT_TIMEOUT is marked offline and its in_progress tasks go back to the backlog. Returns the agent.',
  input: {
    status: z.enum(AGENT_STATUSES).describe('idle (between tasks), busy (working) or offline (leaving).'),
    taskId: taskIdField.optional().describe('The task you are busy on; it must be assigned to you. Omit to keep the current one when busy.'),
  },
  readOnly: false,
  countsAsSeen: false,
  async run({ status, taskId }, { deps, agent, actor, ownTask }) {
    if (taskId !== undefined) {
      if (status !== 'busy') throw new ToolError(`taskId goes with status busy, not ${status}`);
      await ownTask(taskId);
    }
    const currentTaskId = status === 'busy' ? taskId : null;
    return { ...(await deps.agents.report(agent.id, status, currentTaskId, actor)) };
  },
});
