import { previewHost } from '../../k8s/manifests.js';
import { defineTool, taskIdField, ToolError } from './types.js';

export const triggerPreview = defineTool({
  name: 'trigger_preview',
  description:
    "Deploy (or redeploy) the preview environment of a task you hold, at its pull request's current head. The task moves to ready_to_test " +
    'when the preview is up. Returns {jobId, previewUrl, dryRun}; without Kubernetes configured previews are dry-runs: previewUrl is null, dryRun true.',
  input: { taskId: taskIdField },
  readOnly: false,
  async run({ taskId }, { deps, actor, ownTask }) {
    const task = await ownTask(taskId);
    if (task.prNumber === null) throw new ToolError(`task ${taskId} has no pull request: a preview deploys a pull request's head; open one with create_pr`);
    const jobId = await deps.jobs.deployPreview(taskId, `requested by ${actor}`);
    if (!deps.cluster) return { jobId, previewUrl: null, dryRun: true };
    // Where the preview-deploy job serves it (the same URL it stores on the task).
    return { jobId, previewUrl: task.previewUrl ?? `https://${previewHost(taskId, deps.config.preview.domain)}`, dryRun: false };
  },
});
