import type { Command } from './types.js';

export const preview: Command = {
  name: 'preview',
  usage: '/preview',
  help: "redeploy the task's preview environment at the PR head",
  needsWrite: true,
  async run({ task, author, deps }) {
    if (!task.prNumber) return `Task ${task.id} has no pull request yet, so there is nothing to preview.`;
    const jobId = await deps.jobs.deployPreview(task.id, `/preview by ${author}`);
    return `Preview redeploy of task ${task.id} queued (job \`${jobId}\`).`;
  },
};
