import { readFileSync, writeFileSync } from 'node:fs';
import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { Redis } from 'ioredis';
import { BOT_MARKER, Replier } from '../../src/gitea/replies.js';
import { createMcpServer, type McpDeps } from '../../src/mcp/server.js';
import { AnswerWaiter, answersChannel, RedisAnswerNotifier } from '../../src/mcp/answers.js';
import type { KubeCluster } from '../../src/k8s/cluster.js';
import { createLogger } from '../../src/log.js';
import { REDIS_URL } from '../support/service.js';
import { callTool, startMcpHarness, toolError, type McpHarness } from '../support/mcp-harness.js';
import { startGiteaServer, type GiteaServer } from '../support/gitea-server.js';
import { MAIN_SHA } from '../support/gitea-repo.js';
import { setTaskColumns } from '../support/task-rows.js';

const SNAPSHOT = new URL('./snapshots/mcp-tools.json', import.meta.url);

/** The tool list as clients see it, in the form the snapshot keeps. */
async function toolSchemas(client: Client) {
  const { tools } = await client.listTools();
  return tools.map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema, annotations: t.annotations }));
}

/** A client talking to a server built on other deps (no Gitea, a cluster, a fake waiter), in process. */
async function connectInMemory(deps: McpDeps, agentId: number): Promise<Client> {
  const server = createMcpServer(deps, await deps.agents.get(agentId));
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'aiworker-test', version: '1.0.0' });
  await client.connect(clientSide);
  return client;
}

describe('MCP server', function () {
  let h: McpHarness;
  let project: any;
  let alice: { id: number; token: string };
  let bob: { id: number; token: string };
  let a: Client;
  let b: Client;
  let gitea: GiteaServer;

  const newTask = async (title = 'Add login', projectId = project.id) =>
    (await h.api('POST', '/api/tasks', { projectId, title })).body;

  /** A fresh project so that get_next_task hands out exactly the tasks the test made. */
  const newProject = async (repo: string) => (await h.api('POST', '/api/projects', { name: repo, repo })).body;

  /** A task claimed by the given client. */
  const claimed = async (client: Client, title = 'Add login') => {
    const own = await newProject(`acme/claim-${Math.random().toString(36).slice(2, 10)}`);
    await newTask(title, own.id);
    const { task } = await callTool(client, 'get_next_task', { projectId: own.id });
    return task;
  };

  before(async () => {
    gitea = await startGiteaServer();
    h = await startMcpHarness(gitea.env());
    project = (await h.api('POST', '/api/projects', { name: 'Web app', repo: 'acme/webapp' })).body;
    alice = await h.createAgent('alice');
    bob = await h.createAgent('bob');
    a = await h.connect(alice.token);
    b = await h.connect(bob.token);
  });

  after(async () => {
    await h?.close();
    await gitea?.close();
  });

  describe('transport and auth', () => {
    it('refuses a missing or wrong token with 401 and a JSON-RPC error body, before any tool runs', async () => {
      const before = (await h.api('GET', `/api/tasks?projectId=${project.id}&state=in_progress`)).body.total;
      await newTask('Never claimed by a stranger');
      const call = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_next_task', arguments: {} } };
      for (const authorization of [undefined, 'Bearer aiw_wrong', `Bearer ${alice.token}x`, alice.token]) {
        const res = await fetch(`${h.url}/mcp`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(authorization ? { authorization } : {}) },
          body: JSON.stringify(call),
        });
        expect(res.status, String(authorization)).to.equal(401);
        expect(res.headers.get('www-authenticate')).to.match(/^Bearer/);
        const body = await res.json();
        expect(body).to.include({ jsonrpc: '2.0', id: null });
        expect(body.error.code).to.equal(-32001);
        expect(body.error.message).to.match(/token/);
      }
      expect((await h.api('GET', `/api/tasks?projectId=${project.id}&state=in_progress`)).body.total).to.equal(before);
    });

    it('makes the SDK client fail to connect with a wrong token', async () => {
      let failure: Error | null = null;
      try {
        await h.connect('aiw_not-a-token');
      } catch (err) {
        failure = err as Error;
      }
      expect((failure as { code?: number } | null)?.code).to.equal(401);
      expect(failure?.message).to.match(/not a valid agent token/);
    });

    it('answers GET and DELETE with 405 (stateless: no session) once the token is good, 401 before', async () => {
      for (const method of ['GET', 'DELETE']) {
        const ok = await fetch(`${h.url}/mcp`, { method, headers: { authorization: `Bearer ${alice.token}`, accept: 'text/event-stream' } });
        expect(ok.status).to.equal(405);
        expect(ok.headers.get('allow')).to.equal('POST');
        expect((await ok.json()).error.message).to.match(/stateless/);
        const anonymous = await fetch(`${h.url}/mcp`, { method });
        expect(anonymous.status).to.equal(401);
      }
    });

    it('refuses malformed JSON with a JSON-RPC parse error', async () => {
      const res = await fetch(`${h.url}/mcp`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: '{"jsonrpc":',
      });
      expect(res.status).to.equal(400);
      expect((await res.json()).error.code).to.equal(-32700);
    });

    it('refuses another content type (415), a body past 4 MiB (413) and an empty one (parse error), as JSON-RPC errors', async () => {
      const post = async (body: string, type = 'application/json') => {
        const res = await fetch(`${h.url}/mcp`, {
          method: 'POST',
          headers: { authorization: `Bearer ${alice.token}`, 'content-type': type, accept: 'application/json, text/event-stream' },
          body,
        });
        return [res.status, ((await res.json()) as any).error] as const;
      };
      const call = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'list_tasks', arguments: {} } });
      expect(await post(call, 'text/plain')).to.deep.equal([415, { code: -32600, message: 'content type text/plain is not supported: send application/json' }]);
      expect(await post(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"${'x'.repeat(4 * 1024 * 1024)}"}}`)).to.deep.equal([
        413,
        { code: -32600, message: 'body is larger than the limit of 4194304 bytes' },
      ]);
      expect(await post('')).to.deep.equal([400, { code: -32700, message: 'MCP message is not valid JSON: Unexpected end of JSON input' }]);
    });
  });

  describe('tool list', () => {
    it('offers the eleven SPEC tools, read-only hints where true, every field described', async () => {
      const { tools } = await a.listTools();
      expect(tools.map((t) => t.name)).to.have.members([
        'get_next_task',
        'get_task',
        'list_tasks',
        'ask_user_question',
        'check_response',
        'update_task_status',
        'create_branch',
        'create_pr',
        'trigger_preview',
        'add_comment',
        'report_status',
      ]);
      for (const tool of tools) {
        expect(tool.description, tool.name).to.be.a('string').with.length.above(40);
        expect(tool.annotations?.readOnlyHint, tool.name).to.equal(['get_task', 'list_tasks', 'check_response'].includes(tool.name));
        for (const [field, schema] of Object.entries(tool.inputSchema.properties ?? {})) {
          expect((schema as { description?: string }).description, `${tool.name}.${field}`).to.be.a('string').that.is.not.empty;
        }
      }
      const ask = tools.find((t) => t.name === 'ask_user_question')!;
      expect(ask.inputSchema.required).to.have.members(['taskId', 'question']);
    });

    it('matches the committed schema snapshot (UPDATE_SNAPSHOTS=1 rewrites it)', async () => {
      const current = await toolSchemas(a);
      if (process.env.UPDATE_SNAPSHOTS === '1') writeFileSync(SNAPSHOT, `${JSON.stringify(current, null, 2)}\n`);
      const committed = JSON.parse(readFileSync(SNAPSHOT, 'utf8'));
      expect(current).to.deep.equal(committed);
    });
  });

  describe('tasks', () => {
    it('get_next_task claims the oldest backlog task, assigns it and reports the agent busy; {task: null} when none is left', async () => {
      const own = await newProject('acme/claims');
      const first = await newTask('First', own.id);
      const second = await newTask('Second', own.id);
      const one = await callTool(a, 'get_next_task', { projectId: own.id });
      expect(one.task).to.include({ id: first.id, state: 'in_progress', assignedAgentId: alice.id });
      const agents = (await h.api('GET', '/api/agents')).body.agents;
      expect(agents.find((x: any) => x.id === alice.id)).to.include({ status: 'busy', currentTaskId: first.id });
      const two = await callTool(b, 'get_next_task', { projectId: own.id });
      expect(two.task).to.include({ id: second.id, assignedAgentId: bob.id });
      expect(await callTool(a, 'get_next_task', { projectId: own.id })).to.deep.equal({ task: null });
      const events = (await h.api('GET', `/api/tasks/${first.id}/events`)).body.events;
      expect(events.at(-1)).to.include({ from: 'backlog', to: 'in_progress', actor: `agent:alice#${alice.id}` });
    });

    it('get_next_task without projectId takes from any project, oldest first', async () => {
      const p1 = await newProject('acme/any-1');
      const p2 = await newProject('acme/any-2');
      const older = await newTask('Older', p2.id);
      await newTask('Newer', p1.id);
      // Tasks of other tests may be older still: claim until ours come out, in order.
      const seen: number[] = [];
      for (let i = 0; i < 100; i++) {
        const { task } = await callTool(a, 'get_next_task');
        if (!task) break;
        seen.push(task.id);
      }
      expect(seen).to.include(older.id);
      expect(seen).to.deep.equal([...seen].sort((x, y) => x - y));
    });

    it('get_task reads any task with questions and feedback; list_tasks filters by project and state', async () => {
      const task = await claimed(a);
      const read = await callTool(b, 'get_task', { taskId: task.id });
      expect(read).to.include({ id: task.id, state: 'in_progress', assignedAgentId: alice.id });
      expect(read.questions).to.deep.equal([]);
      expect(read.feedback).to.deep.equal([]);
      const listed = await callTool(b, 'list_tasks', { projectId: task.projectId, state: 'in_progress' });
      expect(listed.total).to.equal(1);
      expect(listed.tasks.map((t: any) => t.id)).to.deep.equal([task.id]);
      expect((await callTool(b, 'list_tasks', { projectId: task.projectId, state: 'backlog' })).tasks).to.deep.equal([]);
    });

    it('answers with structuredContent and the same JSON as text', async () => {
      const task = await claimed(a);
      const result: any = await a.callTool({ name: 'get_task', arguments: { taskId: task.id } });
      expect(result.isError).to.not.equal(true);
      expect(JSON.parse(result.content[0].text)).to.deep.equal(result.structuredContent);
    });

    it('reports an unknown task, a bad argument and another agent’s task as tool errors, and the session goes on', async () => {
      expect(await toolError(a, 'get_task', { taskId: 987654 })).to.equal('task 987654 not found');
      expect(await toolError(a, 'get_task', { taskId: 'one' })).to.match(/Invalid arguments for tool get_task/).and.match(/taskId/);
      expect(await toolError(a, 'list_tasks', { state: 'done' })).to.match(/Invalid arguments/).and.match(/state/);
      const bobs = await claimed(b);
      const refused = await toolError(a, 'update_task_status', { taskId: bobs.id, state: 'backlog' });
      expect(refused).to.equal(
        `task ${bobs.id} is assigned to agent ${bob.id}, not to you (agent ${alice.id}): agents act only on tasks they claimed with get_next_task`,
      );
      expect((await callTool(a, 'get_task', { taskId: bobs.id })).state).to.equal('in_progress');
      const unassigned = await newTask('Nobody’s');
      expect(await toolError(a, 'ask_user_question', { taskId: unassigned.id, question: 'Why?' })).to.match(/is not assigned to any agent/);
    });

    it('update_task_status moves an own task as the state machine allows and refuses the rest', async () => {
      const task = await claimed(a);
      const moved = await callTool(a, 'update_task_status', { taskId: task.id, state: 'ready_to_test', note: 'no previews here' });
      expect(moved).to.include({ id: task.id, state: 'ready_to_test' });
      expect(moved.questions).to.be.an('array');
      const events = (await h.api('GET', `/api/tasks/${task.id}/events`)).body.events;
      expect(events.at(-1)).to.include({ from: 'in_progress', to: 'ready_to_test', reason: 'no previews here', actor: `agent:alice#${alice.id}` });

      const refused = await toolError(a, 'update_task_status', { taskId: task.id, state: 'staging' });
      expect(refused).to.match(/only Gitea's merge of the pull request moves a task to staging/);
      const backward = await toolError(a, 'update_task_status', { taskId: task.id, state: 'backlog' });
      expect(backward).to.equal(`task ${task.id}: a task in ready_to_test cannot move to backlog (backlog is entered from in_progress, cancelled)`);
      expect(await toolError(a, 'update_task_status', { taskId: task.id, state: 'needs_input' })).to.match(/use ask_user_question/);
      expect(await toolError(a, 'update_task_status', { taskId: task.id, state: 'approved' })).to.match(/agents cannot move a task to approved/);
      expect(await toolError(a, 'update_task_status', { taskId: task.id, state: 'cancelled' })).to.match(/agents cannot move a task to cancelled/);
      expect((await callTool(a, 'get_task', { taskId: task.id })).state).to.equal('ready_to_test');
    });

    it('update_task_status to backlog hands the task back: unassigned, and the agent idle', async () => {
      const task = await claimed(a);
      const back = await callTool(a, 'update_task_status', { taskId: task.id, state: 'backlog' });
      expect(back).to.include({ state: 'backlog', assignedAgentId: null });
      const me = (await h.api('GET', '/api/agents')).body.agents.find((x: any) => x.id === alice.id);
      expect(me).to.include({ status: 'idle', currentTaskId: null });
    });
  });

  describe('report_status and liveness bookkeeping', () => {
    it('report_status sets status and task, refuses a task that is not the caller’s, and any call brings an offline agent back', async () => {
      const carol = await h.createAgent('carol');
      const c = await h.connect(carol.token);
      const task = await claimed(c);
      expect(await callTool(c, 'report_status', { status: 'busy', taskId: task.id })).to.include({ id: carol.id, status: 'busy', currentTaskId: task.id });
      expect(await callTool(c, 'report_status', { status: 'offline' })).to.include({ status: 'offline', currentTaskId: null });
      const bobs = await claimed(b);
      expect(await toolError(c, 'report_status', { status: 'busy', taskId: bobs.id })).to.match(/assigned to agent/);
      expect(await toolError(c, 'report_status', { status: 'idle', taskId: task.id })).to.match(/taskId goes with status busy/);
      await callTool(c, 'list_tasks', { projectId: task.projectId });
      const me = (await h.api('GET', '/api/agents')).body.agents.find((x: any) => x.id === carol.id);
      expect(me.status).to.equal('idle');
      expect(Date.now() - Date.parse(me.lastSeenAt)).to.be.below(5000);
    });

    it('every tool call refreshes last-seen (written at most once a second per agent and process)', async () => {
      // Bob's earlier calls were written less than a second ago; past that, the next call writes again.
      await new Promise((r) => setTimeout(r, 1100));
      await h.svc.db('agents').where({ id: bob.id }).update({ last_seen_at: new Date(Date.now() - 3600_000) });
      await callTool(b, 'get_task', { taskId: (await newTask()).id });
      const row = await h.svc.db('agents').where({ id: bob.id }).first();
      expect(Date.now() - new Date(row.last_seen_at).getTime()).to.be.below(5000);
    });
  });

  describe('questions', () => {
    it('ask_user_question moves the task to needs_input, posts the question on the PR and stores the comment id', async () => {
      const task = await claimed(a);
      await setTaskColumns(h.svc.deps, task.id, { pr_number: 7, pr_url: `${gitea.url}/acme/webapp/pulls/7` });
      const { repo } = (await h.api('GET', `/api/projects/${task.projectId}`)).body;

      const { questionId } = await callTool(a, 'ask_user_question', { taskId: task.id, question: 'Which OAuth provider?\nGoogle or GitHub?' });
      expect(questionId).to.be.a('number');
      const posted = gitea.comments.filter((c) => c.repo === repo);
      expect(posted.map((c) => c.index)).to.deep.equal([7]);
      expect(posted[0]!.body).to.contain('> Which OAuth provider?\n> Google or GitHub?').and.contain('alice').and.contain(BOT_MARKER);
      const detail = await callTool(a, 'get_task', { taskId: task.id });
      expect(detail.state).to.equal('needs_input');
      expect(detail.questions).to.have.length(1);
      expect(detail.questions[0]).to.include({ id: questionId, question: 'Which OAuth provider?\nGoogle or GitHub?', answer: null });
      const row = await h.svc.db('task_questions').where({ id: questionId }).first();
      expect(Number(row.gitea_comment_id)).to.equal(posted[0]!.id);
      const events = (await h.api('GET', `/api/tasks/${task.id}/events`)).body.events;
      expect(events.map((e: any) => e.type)).to.include('task:needs_input');
      expect(await toolError(a, 'ask_user_question', { taskId: task.id, question: 'again?' })).to.match(/questions are asked while in_progress/);
    });

    it('ask_user_question posts on the task issue when there is no PR, and keeps the question if Gitea fails', async () => {
      const task = await claimed(a);
      await setTaskColumns(h.svc.deps, task.id, { issue_number: 31 });
      const { repo } = (await h.api('GET', `/api/projects/${task.projectId}`)).body;
      gitea.repo(repo).script('POST /issues/31/comments', [500, { message: 'database is locked', url: `${gitea.url}/api/swagger` }]);
      const { questionId } = await callTool(a, 'ask_user_question', { taskId: task.id, question: 'Ship it?' });
      const row = await h.svc.db('task_questions').where({ id: questionId }).first();
      expect(row.gitea_comment_id).to.equal(null);
      expect((await callTool(a, 'get_task', { taskId: task.id })).state).to.equal('needs_input');
    });

    it('check_response answers at once, and waits for an answer posted through REST, woken by pub/sub', async () => {
      const task = await claimed(a);
      expect(await toolError(a, 'check_response', { taskId: task.id })).to.match(/has no question/);
      expect(await toolError(a, 'check_response', { taskId: 876543 })).to.equal('task 876543 not found');
      await callTool(a, 'ask_user_question', { taskId: task.id, question: 'Dark mode too?' });
      expect(await callTool(a, 'check_response', { taskId: task.id })).to.deep.equal({ answered: false });

      const started = Date.now();
      const waiting = callTool(a, 'check_response', { taskId: task.id, waitSeconds: 30 });
      await new Promise((r) => setTimeout(r, 400));
      const respond = await h.api('POST', `/api/tasks/${task.id}/respond`, { response: 'Yes, both themes' });
      expect(respond.status).to.equal(200);
      expect(await waiting).to.deep.equal({ answered: true, response: 'Yes, both themes' });
      expect(Date.now() - started).to.be.below(5000);
      // The answer hands the task back to its agent; other agents may read the answer too.
      expect((await callTool(b, 'check_response', { taskId: task.id })).answered).to.equal(true);
      expect((await callTool(a, 'get_task', { taskId: task.id })).state).to.equal('in_progress');
    });

    it('check_response gives up after waitSeconds and caps long waits', async () => {
      const task = await claimed(a);
      await callTool(a, 'ask_user_question', { taskId: task.id, question: 'Anyone?' });
      const started = Date.now();
      expect(await callTool(a, 'check_response', { taskId: task.id, waitSeconds: 1 })).to.deep.equal({ answered: false });
      expect(Date.now() - started).to.be.within(900, 4000);

      const waits: number[] = [];
      const c = await connectInMemory({ ...h.deps, answers: { waitFor: async (_id, ms) => (waits.push(ms), false) } }, alice.id);
      expect(await callTool(c, 'check_response', { taskId: task.id, waitSeconds: 3600 })).to.deep.equal({ answered: false });
      expect(waits).to.deep.equal([50_000]);
      await c.close();
    });
  });

  describe('Gitea tools', () => {
    it('create_branch makes the staging branch from the default one, then task-<id>-<slug> from staging, and links it', async () => {
      const task = await claimed(a, 'Add login page!');
      const { repo } = (await h.api('GET', `/api/projects/${task.projectId}`)).body;
      const branch = `task-${task.id}-add-login-page`;
      const created = gitea.repo(repo).createdBranches;
      expect(await callTool(a, 'create_branch', { taskId: task.id })).to.deep.equal({ branch });
      expect(created).to.deep.equal([
        { new_branch_name: 'staging', old_ref_name: 'main' },
        { new_branch_name: branch, old_ref_name: 'staging' },
      ]);
      expect((await callTool(a, 'get_task', { taskId: task.id })).branch).to.equal(branch);

      // Again: both branches exist, nothing is created.
      expect(await callTool(a, 'create_branch', { taskId: task.id })).to.deep.equal({ branch });
      expect(created).to.have.length(2);
      expect(await toolError(a, 'create_branch', { taskId: task.id, slug: 'something else' })).to.match(
        new RegExp(`already has the branch ${branch}`),
      );
    });

    it('create_branch takes a slug, and only for the caller’s tasks', async () => {
      const task = await claimed(a);
      const { repo } = (await h.api('GET', `/api/projects/${task.projectId}`)).body;
      const branch = `task-${task.id}-fix-the-header-layout`;
      gitea.repo(repo).branches.set('staging', MAIN_SHA);
      expect(await callTool(a, 'create_branch', { taskId: task.id, slug: 'Fix the header layout' })).to.deep.equal({ branch });
      expect(gitea.repo(repo).createdBranches).to.deep.equal([{ new_branch_name: branch, old_ref_name: 'staging' }]);
      expect(await toolError(b, 'create_branch', { taskId: task.id })).to.match(/assigned to agent/);
    });

    it('create_pr opens head=task branch, base=staging with a Task line, links the PR; a second call returns the open one', async () => {
      const task = await claimed(a);
      const { repo } = (await h.api('GET', `/api/projects/${task.projectId}`)).body;
      expect(await toolError(a, 'create_pr', { taskId: task.id, title: 'Add login' })).to.match(/has no branch yet/);
      const branch = `task-${task.id}-add-login`;
      await setTaskColumns(h.svc.deps, task.id, { branch });
      const expectedBody = `Adds the login page.\n\nTask: ${task.id}`;
      const fake = gitea.repo(repo);
      fake.branches.set('staging', MAIN_SHA);
      fake.branches.set(branch, 'b7'.repeat(20));
      const pr = await callTool(a, 'create_pr', { taskId: task.id, title: 'Add login', body: 'Adds the login page.' });
      expect(fake.createdPulls).to.deep.equal([{ head: branch, base: 'staging', title: 'Add login', body: expectedBody }]);
      const opened = [...fake.pulls.values()];
      expect(opened.map((p) => [p.head.ref, p.base.ref, p.body])).to.deep.equal([[branch, 'staging', expectedBody]]);
      expect(pr).to.deep.equal({ prNumber: opened[0]!.number, prUrl: `${gitea.url}/${repo}/pulls/${opened[0]!.number}` });
      expect(await callTool(a, 'get_task', { taskId: task.id })).to.include({ prNumber: pr.prNumber, prUrl: pr.prUrl });

      // Gitea refuses a second PR from the same head to the same base (409); the open one is found and returned.
      expect(await callTool(a, 'create_pr', { taskId: task.id, title: 'Add login' })).to.deep.equal(pr);
      expect(fake.createdPulls).to.have.length(2);
      expect(fake.pulls.size).to.equal(1);
    });

    it('create_pr passes Gitea’s refusal on as a tool error', async () => {
      const task = await claimed(a);
      const { repo } = (await h.api('GET', `/api/projects/${task.projectId}`)).body;
      await setTaskColumns(h.svc.deps, task.id, { branch: `task-${task.id}-x` });
      gitea.repo(repo).script('POST /pulls', [422, { message: 'branch does not exist', url: `${gitea.url}/api/swagger` }]);
      expect(await toolError(a, 'create_pr', { taskId: task.id, title: 'X', body: `Task: ${task.id}` })).to.match(/422/).and.match(/branch does not exist/);
    });

    it('add_comment posts on the PR, attributed to the agent', async () => {
      const task = await claimed(a);
      const { repo } = (await h.api('GET', `/api/projects/${task.projectId}`)).body;
      expect(await toolError(a, 'add_comment', { taskId: task.id, body: 'hello' })).to.match(/neither a pull request nor an issue/);
      await setTaskColumns(h.svc.deps, task.id, { pr_number: 21 });
      const { commentId } = await callTool(a, 'add_comment', { taskId: task.id, body: 'Ready for review.' });
      const posted = gitea.comments.filter((c) => c.repo === repo);
      expect(posted.map((c) => [c.index, c.id])).to.deep.equal([[21, commentId]]);
      // Any call may repeat one whose answer was lost: the comment is looked for before it is posted.
      expect(gitea.requests.filter((r) => r.path === `/api/v1/repos/${repo}/issues/21/comments`).map((r) => r.method)).to.deep.equal(['GET', 'POST']);
      expect(posted[0]!.body).to.contain('Ready for review.').and.contain('alice').and.contain(BOT_MARKER);
    });

    it('without Gitea, branch, PR and comment tools say Gitea is not configured', async () => {
      const task = await claimed(a);
      await setTaskColumns(h.svc.deps, task.id, { branch: `task-${task.id}-x`, pr_number: 3 });
      const c = await connectInMemory({ ...h.deps, gitea: null, replies: new Replier({ api: null, log: h.svc.log }) }, alice.id);
      for (const [tool, args] of [
        ['create_branch', { taskId: task.id }],
        ['create_pr', { taskId: task.id, title: 'T' }],
        ['add_comment', { taskId: task.id, body: 'b' }],
      ] as const) {
        expect(await toolError(c, tool, args), tool).to.match(/^Gitea is not configured/);
      }
      await c.close();
    });
  });

  describe('trigger_preview', () => {
    it('queues a preview deploy; dry-run without Kubernetes', async () => {
      const task = await claimed(a);
      expect(await toolError(a, 'trigger_preview', { taskId: task.id })).to.match(/has no pull request/);
      await setTaskColumns(h.svc.deps, task.id, { pr_number: 5, head_sha: 'c9de6274405f2cf52adabba61b36257fff6809af' });
      const result = await callTool(a, 'trigger_preview', { taskId: task.id });
      expect(result).to.include({ previewUrl: null, dryRun: true });
      expect(result.jobId).to.be.a('string');
      const job = await h.svc.queues.get('deploy').getJob(result.jobId);
      expect(job?.name).to.equal('preview-deploy');
      expect(job?.data).to.include({ taskId: task.id });
      expect(await toolError(b, 'trigger_preview', { taskId: task.id })).to.match(/assigned to agent/);
    });

    it('names the preview URL when a cluster is configured', async () => {
      const task = await claimed(a);
      await setTaskColumns(h.svc.deps, task.id, { pr_number: 6 });
      const c = await connectInMemory({ ...h.deps, cluster: {} as KubeCluster }, alice.id);
      const result = await callTool(c, 'trigger_preview', { taskId: task.id });
      expect(result).to.include({ previewUrl: `https://task-${task.id}.preview.localhost`, dryRun: false });
      await c.close();
    });
  });

  describe('concurrency', () => {
    it('50 agents calling get_next_task at once over 500 tasks claim each exactly once', async function () {
      this.timeout(120_000);
      const own = await newProject('acme/crowd');
      const ids: number[] = [];
      for (let i = 0; i < 500; i += 50) {
        const batch = await Promise.all(
          Array.from({ length: 50 }, (_, j) => h.deps.tasks.create({ projectId: own.id, title: `Task ${i + j}`, actor: 'test' })),
        );
        ids.push(...batch.map((t) => t.id));
      }
      const agents = await Promise.all(Array.from({ length: 50 }, (_, i) => h.createAgent(`crowd-${i}`)));
      const clients = await Promise.all(agents.map((x) => h.connect(x.token)));
      const claims = await Promise.all(
        clients.map(async (client, i) => {
          const got: Array<{ taskId: number; agentId: number }> = [];
          for (;;) {
            const { task } = await callTool(client, 'get_next_task', { projectId: own.id });
            if (!task) return got;
            expect(task.assignedAgentId).to.equal(agents[i].id);
            got.push({ taskId: task.id, agentId: agents[i].id });
          }
        }),
      );
      const all = claims.flat();
      expect(all.map((c) => c.taskId).sort((x, y) => x - y)).to.deep.equal(ids.sort((x, y) => x - y));
      const rows = await h.svc.db('tasks').where({ project_id: own.id }).select('id', 'state', 'assigned_agent_id');
      const holder = new Map(all.map((c) => [c.taskId, c.agentId]));
      for (const row of rows) {
        expect(row.state).to.equal('in_progress');
        expect(row.assigned_agent_id).to.equal(holder.get(row.id));
      }
      const [{ n }] = await h.svc.db('task_events')
        .whereIn('task_id', ids)
        .andWhere({ type: 'task:status_changed', to_state: 'in_progress' })
        .count({ n: '*' });
      expect(Number(n)).to.equal(500);
    });
  });
});

describe('AnswerWaiter', () => {
  const prefix = `aiwtest_answers_${process.pid}_${Date.now()}`;
  const log = createLogger('silent');
  let redis: Redis;
  let waiter: AnswerWaiter;

  beforeEach(() => {
    redis = new Redis(REDIS_URL);
    waiter = new AnswerWaiter({ redisUrl: REDIS_URL, prefix, log });
  });
  afterEach(async () => {
    await waiter.close();
    redis.disconnect();
  });

  it('wakes the waiters of the answered task only, when the notifier publishes', async () => {
    let answered = false;
    let checks = 0;
    const waiting = waiter.waitFor(1, 20_000, async () => (checks++, answered));
    const other = waiter.waitFor(2, 700, async () => false);
    // The first check runs once the subscription is in place; a busy machine may take a while.
    while (checks === 0) await new Promise((r) => setTimeout(r, 10));
    answered = true;
    await new RedisAnswerNotifier(redis, prefix, log).answered(1);
    expect(await waiting).to.equal(true);
    // One check once subscribed, one after the wake-up: no polling in between (a poll would not
    // have ended a 20 s wait here anyway).
    expect(checks).to.equal(2);
    expect(await other).to.equal(false);
  });

  it('ignores messages on another prefix and ends early on abort or close', async () => {
    const controller = new AbortController();
    const aborted = waiter.waitFor(3, 20_000, async () => false, controller.signal);
    const closed = waiter.waitFor(4, 20_000, async () => false);
    await new Promise((r) => setTimeout(r, 200));
    await redis.publish(answersChannel(`${prefix}x`), '3');
    const started = Date.now();
    controller.abort();
    expect(await aborted).to.equal(false);
    await waiter.close();
    expect(await closed).to.equal(false);
    expect(Date.now() - started).to.be.below(1000);
  });

  it('answers without waiting when Redis cannot be reached', async () => {
    const unreachable = new AnswerWaiter({ redisUrl: 'redis://127.0.0.1:1', prefix, log, subscribeTimeoutMs: 300 });
    const started = Date.now();
    expect(await unreachable.waitFor(5, 20_000, async () => false)).to.equal(false);
    expect(Date.now() - started).to.be.below(2000);
    await unreachable.close();
  });
});
