import type { Command } from './types.js';

export const retry: Command = {
  name: 'retry',
  usage: '/retry',
  help: 'run the last failed job of this task again (preview, merge)',
  needsWrite: true,
  async run({ task, deps }) {
    const job = await deps.jobs.retryLastFailed(task.id);
    if (!job) return `Task ${task.id} has no failed job to retry.`;
    return `Retrying the failed \`${job.name}\` job of task ${task.id} (job \`${job.id}\`).`;
  },
};
