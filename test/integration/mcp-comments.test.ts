import { expect } from 'chai';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { GiteaServer } from '../support/gitea-server.js';
import { agentService, callTool, toolError, type McpHarness } from '../support/mcp-harness.js';
import { setTaskColumns } from '../support/task-rows.js';

/**
 * The comments agents make aiworker post (add_comment, ask_user_question) are posted once per call,
 * however often the call is repeated: Gitea may take a comment and its answer never arrive (the
 * serving process died, the connection dropped), and the agent then calls again.
 */
describe('MCP comments: a repeated call posts nothing more', function () {
  this.timeout(60_000);
  let h: McpHarness;
  let gitea: GiteaServer;
  let project: any;
  let agent: Client;
  let nextPr = 300;

  const stand = agentService('carol', { resetGitea: true });
  before(() => ({ h, gitea, project, agent } = stand));

  /** A task the agent holds, with a pull request. */
  async function heldTask(): Promise<{ id: number; pr: number }> {
    await h.api('POST', '/api/tasks', { projectId: project.id, title: 'Add login' });
    const { task } = await callTool(agent, 'get_next_task', { projectId: project.id });
    const pr = nextPr++;
    await setTaskColumns(h.svc.deps, task.id, { pr_number: pr });
    return { id: task.id, pr };
  }
  /** Interrupts the next comment post only. */
  const interruptNext = (when: 'before' | 'after') => {
    gitea.interruptComments = () => {
      gitea.interruptComments = null;
      return when;
    };
  };

  describe('add_comment', () => {
    it('repeated after Gitea took the comment but its answer was lost: returns that comment, posts no second one', async () => {
      const { id, pr } = await heldTask();
      interruptNext('after');
      expect(await toolError(agent, 'add_comment', { taskId: id, body: 'Ready for review.' })).to.match(/Gitea POST .*comments failed/);
      expect(gitea.comments).to.have.length(1);

      expect(await callTool(agent, 'add_comment', { taskId: id, body: 'Ready for review.' })).to.deep.equal({ commentId: gitea.comments[0]!.id });
      expect(gitea.comments.map((c) => c.index)).to.deep.equal([pr]);
      expect(gitea.comments[0]!.body).to.include('**Agent carol**').and.include('Ready for review.');
    });

    it('an idempotencyKey names the comment: repeated, it posts once; reused for other text, it is refused; a new key posts again', async () => {
      const { id } = await heldTask();
      interruptNext('before');
      expect(await toolError(agent, 'add_comment', { taskId: id, body: 'Tests pass.', idempotencyKey: 'k-1' })).to.match(/500/);
      expect(gitea.comments).to.have.length(0);

      const first = await callTool(agent, 'add_comment', { taskId: id, body: 'Tests pass.', idempotencyKey: 'k-1' });
      expect(await callTool(agent, 'add_comment', { taskId: id, body: 'Tests pass.', idempotencyKey: 'k-1' })).to.deep.equal(first);
      expect(gitea.comments).to.have.length(1);
      expect(await toolError(agent, 'add_comment', { taskId: id, body: 'Something else.', idempotencyKey: 'k-1' })).to.match(
        new RegExp(`idempotencyKey k-1 was used for another comment on task ${id} \\(commentId ${first.commentId}\\)`),
      );

      // The same text under another key is another comment.
      const second = await callTool(agent, 'add_comment', { taskId: id, body: 'Tests pass.', idempotencyKey: 'k-2' });
      expect(second.commentId).not.to.equal(first.commentId);
      expect(gitea.comments).to.have.length(2);
      expect(await toolError(agent, 'add_comment', { taskId: id, body: 'x', idempotencyKey: 'no spaces allowed' })).to.match(/idempotencyKey/);
    });
  });

  describe('ask_user_question', () => {
    it('asked again after Gitea took the question but its answer was lost: the same question, no second comment, its comment noted', async () => {
      const { id, pr } = await heldTask();
      interruptNext('after');
      const { questionId } = await callTool(agent, 'ask_user_question', { taskId: id, question: 'Which OAuth provider?' });
      expect(gitea.comments).to.have.length(1);
      expect((await h.svc.db('task_questions').where({ id: questionId }).first()).gitea_comment_id).to.equal(null);

      expect(await callTool(agent, 'ask_user_question', { taskId: id, question: 'Which OAuth provider?' })).to.deep.equal({ questionId });
      expect(gitea.comments.map((c) => c.index)).to.deep.equal([pr]);
      expect(gitea.comments[0]!.body).to.include(`<!-- aiworker:question=${questionId} -->`);
      expect(Number((await h.svc.db('task_questions').where({ id: questionId }).first()).gitea_comment_id)).to.equal(gitea.comments[0]!.id);
      const detail = await callTool(agent, 'get_task', { taskId: id });
      expect(detail.questions).to.have.length(1);
      const asked = (await h.api('GET', `/api/tasks/${id}/events`)).body.events.filter((e: any) => e.type === 'task:needs_input');
      expect(asked, 'one question asked').to.have.length(1);
    });

    it('asked again after Gitea failed to store it: posted once then; a different question while it is open is still refused', async () => {
      const { id } = await heldTask();
      interruptNext('before');
      const { questionId } = await callTool(agent, 'ask_user_question', { taskId: id, question: 'Ship it?' });
      expect(gitea.comments).to.have.length(0);

      expect(await callTool(agent, 'ask_user_question', { taskId: id, question: 'Ship it?' })).to.deep.equal({ questionId });
      expect(await callTool(agent, 'ask_user_question', { taskId: id, question: 'Ship it?' })).to.deep.equal({ questionId });
      expect(gitea.comments).to.have.length(1);
      expect(gitea.comments[0]!.body).to.include(`<!-- aiworker:question=${questionId} -->`);
      expect(await toolError(agent, 'ask_user_question', { taskId: id, question: 'Or wait?' })).to.match(/questions are asked while in_progress/);
    });
  });
});
