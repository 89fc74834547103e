import type { Command } from './types.js';

export const stage: Command = {
  name: 'stage',
  usage: '/stage',
  help: 'merge this approved PR into the staging branch',
  needsWrite: true,
  async run({ task, project, author, deps }) {
    if (task.state !== 'approved') return `Task ${task.id} is ${task.state}; only approved tasks can be merged into ${project.stagingBranch}.`;
    const jobId = await deps.jobs.mergeTrain(project.id, [task.id], author);
    return `Merge of task ${task.id} into \`${project.stagingBranch}\` queued (job \`${jobId}\`).`;
  },
};
