import type { JobDefinition, JobDeps } from './types.js';

type Deps = Pick<JobDeps, 'redis' | 'redisPrefix' | 'tasks'>;

export const taskWaitingChannel = (prefix: string) => `${prefix}:tasks-waiting`;

/**
 * Tells agents a task is waiting: agent runners (or an MCP gateway) subscribe to this Redis
 * channel and call get_next_task, instead of polling on a timer.
 */
export const taskWaiting: JobDefinition<{ taskId: number }> = {
  queue: 'tasks',
  name: 'task-waiting',
  async process(job, deps: Deps) {
    const task = await deps.tasks.find(job.data.taskId);
    if (!task || task.state !== 'backlog') return { announced: false };
    const listeners = await deps.redis.publish(
      taskWaitingChannel(deps.redisPrefix),
      JSON.stringify({ taskId: task.id, projectId: task.projectId, title: task.title }),
    );
    return { announced: true, listeners };
  },
};
