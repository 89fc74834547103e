import { expect } from 'chai';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { AGENT_LIVENESS, livenessEveryMs, scheduleAgentLiveness } from '../../../jobs/agent-liveness.js';
import { eventually } from '../../support/service.js';
import { callTool, startMcpHarness, toolError, type McpHarness } from '../../support/mcp-harness.js';

describe('agent-liveness: the sweep of silent agents (jobs/agent-liveness.ts)', function () {
  let h: McpHarness;
  let project: any;

  before(async () => {
    // The shortest AGENT_TIMEOUT the settings allow, so "silent for a minute" is lapsed.
    h = await startMcpHarness({ AGENT_TIMEOUT: '10' });
    project = (await h.api('POST', '/api/projects', { name: 'Web app', repo: 'acme/webapp' })).body;
  });
  after(async () => h?.close());

  const claim = async (client: Client) => {
    await h.api('POST', '/api/tasks', { projectId: project.id, title: 'Work' });
    return (await callTool(client, 'get_next_task', { projectId: project.id })).task;
  };

  it('marks a silent agent offline and returns its in_progress tasks (not needs_input ones) to the backlog, saying why', async () => {
    const silent = await h.createAgent('silent');
    const active = await h.createAgent('active');
    const s = await h.connect(silent.token);
    const act = await h.connect(active.token);
    const lapsedTask = await claim(s);
    const askedTask = await claim(s);
    await callTool(s, 'ask_user_question', { taskId: askedTask.id, question: 'Which colour?' });
    await callTool(s, 'report_status', { status: 'busy', taskId: lapsedTask.id });
    const activeTask = await claim(act);
    await h.svc.db('agents').where({ id: silent.id }).update({ last_seen_at: new Date(Date.now() - 60_000) });

    const job = await h.svc.queues.add('tasks', AGENT_LIVENESS, {}, { jobId: 'liveness-test-1' });
    const result = await eventually(async () => (await h.svc.queues.get('tasks').getJob(job.id!))?.returnvalue, 10_000, 'the sweep');
    expect(result).to.deep.equal({ released: [lapsedTask.id], offline: [silent.id] });

    expect(await h.deps.tasks.find(lapsedTask.id)).to.include({ state: 'backlog', assignedAgentId: null });
    expect(await h.deps.tasks.find(askedTask.id)).to.include({ state: 'needs_input', assignedAgentId: silent.id });
    expect(await h.deps.tasks.find(activeTask.id)).to.include({ state: 'in_progress', assignedAgentId: active.id });
    const events = (await h.api('GET', `/api/tasks/${lapsedTask.id}/events`)).body.events;
    expect(events.at(-1)).to.include({ from: 'in_progress', to: 'backlog', actor: 'aiworker' });
    expect(events.at(-1).reason).to.match(/agent silent \(\d+\) silent for more than 10 s/).and.match(/liveness lapsed/);
    const agents = (await h.api('GET', '/api/agents')).body.agents;
    expect(agents.find((x: any) => x.id === silent.id)).to.include({ status: 'offline', currentTaskId: null });
    expect(agents.find((x: any) => x.id === active.id)).to.include({ status: 'busy' });
    const statusEvent = await h.svc.db('task_events').where({ type: 'agent:status' }).orderBy('id', 'desc').first();
    expect(typeof statusEvent.data === 'string' ? JSON.parse(statusEvent.data) : statusEvent.data).to.deep.equal({ agentId: silent.id, status: 'offline', currentTaskId: null });

    // The agent comes back: it is seen again, but the released task is no longer its own.
    expect(await toolError(s, 'update_task_status', { taskId: lapsedTask.id, state: 'ready_to_test' })).to.match(/not assigned to any agent/);
    expect((await h.api('GET', '/api/agents')).body.agents.find((x: any) => x.id === silent.id).status).to.equal('idle');
  });

  it('leaves an agent that called in since alone', async () => {
    const late = await h.createAgent('late');
    const l = await h.connect(late.token);
    const task = await claim(l);
    const job = await h.svc.queues.add('tasks', AGENT_LIVENESS, {}, { jobId: 'liveness-test-2' });
    const result = await eventually(async () => (await h.svc.queues.get('tasks').getJob(job.id!))?.returnvalue, 10_000, 'the sweep');
    expect(result.released).to.not.include(task.id);
    expect(result.offline).to.not.include(late.id);
    expect(await h.deps.tasks.find(task.id)).to.include({ state: 'in_progress', assignedAgentId: late.id });
  });

  it('is scheduled once as a repeatable job on the tasks queue', async () => {
    expect(livenessEveryMs(10_000)).to.equal(5_000);
    expect(livenessEveryMs(15 * 60_000)).to.equal(60_000);
    expect(livenessEveryMs(120_000)).to.equal(30_000);
    const queue = h.svc.queues.get('tasks');
    await scheduleAgentLiveness(h.svc.queues, 10_000);
    await scheduleAgentLiveness(h.svc.queues, 10_000);
    const schedulers = await queue.getJobSchedulers();
    expect(schedulers.filter((s) => s.key === AGENT_LIVENESS)).to.have.length(1);
    expect(schedulers.find((s) => s.key === AGENT_LIVENESS)).to.include({ name: AGENT_LIVENESS, every: 5_000 });
    await queue.removeJobScheduler(AGENT_LIVENESS);
  });
});
