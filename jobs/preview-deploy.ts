import { UnrecoverableError, type Job } from 'bullmq';
import { lockKeys, whileHolding } from '../src/queue/lock.js';
import { DeploymentStore, type Deployment } from '../src/deployments/store.js';
import { KubeApiError } from '../src/k8s/errors.js';
import { RolloutFailedError, RolloutTimeoutError } from '../src/k8s/errors.js';
import {
  PREVIEW_NAME,
  previewHost,
  previewNamespaceName,
  renderPreview,
  type KubeObject,
  type PreviewSettings,
} from '../src/k8s/manifests.js';
import type { Logger } from '../src/log.js';
import type { Project } from '../src/projects/service.js';
import type { Task } from '../src/tasks/model.js';
import { FINISHED_STATES } from '../src/tasks/states.js';
import { PREVIEW_ACTOR, setPreviewStatus, shortSha } from './lib/preview.js';
import type { JobDefinition, JobDeps } from './types.js';
import { isLastAttempt } from '../src/queue/attempts.js';
import type { PreviewDeployRequest } from '../src/queue/scheduler.js';
import { replyMark } from '../src/gitea/replies.js';
import { headToDeploy } from './lib/current-head.js';

type Deps = Pick<JobDeps, 'cluster' | 'config' | 'deploymentService' | 'deployments' | 'log' | 'outbox' | 'projects' | 'redis' | 'redisPrefix' | 'replies' | 'tasks' | 'gitea'>;


/** The project's preview settings cannot be rendered: retrying cannot fix that, a settings change can. */
class PreviewSettingsError extends Error {
  override name = 'PreviewSettingsError';
}

/** Failures that fail the same way on every attempt. */
function isPermanent(err: unknown): boolean {
  if (err instanceof KubeApiError) return !err.retryable;
  return err instanceof RolloutFailedError || err instanceof RolloutTimeoutError || err instanceof PreviewSettingsError;
}

interface Run {
  job: Job<PreviewDeployRequest>;
  deps: Deps;
  log: Logger;
  deployments: DeploymentStore;
  deployment: Deployment;
  task: Task;
  project: Project;
  sha: string;
  /** Empty when rendering failed: only the success paths use it. */
  url: string;
  namespace: string;
  dryRun: boolean;
}

type Outcome =
  | { status: 'skipped'; note: string }
  | { status: 'succeeded' | 'dry-run'; deploymentId: number; commitSha: string; url: string | null; current: boolean };

function skipped(log: Logger, note: string): Outcome {
  log.info({ note }, 'preview deploy skipped');
  return { status: 'skipped', note };
}

function render(task: Task, project: Project, sha: string, deps: Deps): { manifests: KubeObject[]; url: string } {
  const { preview } = deps.config;
  // Project settings override the service-wide ingress and TLS defaults; the image is the project's own column.
  const settings = {
    ingressClassName: preview.ingressClassName,
    tlsSecretName: preview.tlsSecretName,
    ...project.previewSettings,
    image: project.previewImage,
  } as PreviewSettings;
  try {
    const manifests = renderPreview({
      projectId: project.id,
      projectName: project.name,
      taskId: task.id,
      headSha: sha,
      previewDomain: preview.domain,
      expiresAt: new Date(Date.now() + preview.ttlHours * 3600_000),
      settings,
    });
    return { manifests, url: `https://${previewHost(task.id, preview.domain)}` };
  } catch (err) {
    throw new PreviewSettingsError(`the preview of project ${project.name} cannot be rendered: ${(err as Error).message}`);
  }
}

/** The one PR comment about the preview, edited on every deploy so the PR never collects a stack of them. */
async function upsertPreviewComment(run: Run, known: number | null, body: string): Promise<void> {
  const { deps, task, project, log } = run;
  try {
    // Marked per task: a run that died before noting the comment's id finds it again, not repeats it.
    const id = await deps.replies.upsert(project, task.prNumber!, known, body, replyMark(`preview=task-${task.id}`));
    if (id !== null && id !== known) await deps.tasks.recordPreviewComment(task.id, id);
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'could not post the preview comment');
  }
}

/** deploy:started, once per deploy: a retry after a transient failure continues the same one. */
async function start(run: Run): Promise<void> {
  await run.deps.deploymentService.started(run.deployment, { actor: PREVIEW_ACTOR, reason: run.job.data.reason });
}

async function finishDeployed(run: Run): Promise<Outcome> {
  const { deps, task, deployment, sha, url, log } = run;
  const outcome = await deps.tasks.previewReady(task.id, sha, url, { actor: PREVIEW_ACTOR, reason: `preview of ${shortSha(sha)} is available` });
  await deps.deploymentService.completed(deployment, { status: 'succeeded', url, error: null }, { actor: PREVIEW_ACTOR, reason: run.job.data.reason });
  log.info({ url, sha, current: outcome.current, moved: outcome.moved, state: outcome.state }, 'preview deployed');
  if (outcome.current) {
    await upsertPreviewComment(
      run,
      outcome.previewCommentId,
      `Preview of \`${shortSha(sha)}\` is ready: ${url}\n\nThis comment is updated on every redeploy of task ${task.id}.`,
    );
    await setPreviewStatus(deps, log, run.project, sha, { state: 'success', description: `preview of ${shortSha(sha)} is available`, targetUrl: url });
  } else {
    const why = outcome.head !== sha && outcome.head ? `superseded by ${shortSha(outcome.head)}` : `task is ${outcome.state}`;
    await setPreviewStatus(deps, log, run.project, sha, { state: 'success', description: `preview deployed; ${why}`, targetUrl: url });
  }
  return { status: 'succeeded', deploymentId: deployment.id, commitSha: sha, url, current: outcome.current };
}

/** Dry-run: the manifests are rendered and stored, and nothing claims a deployment. */
async function finishDryRun(run: Run, manifests: KubeObject[]): Promise<Outcome> {
  const { deps, task, deployment, sha, namespace, log } = run;
  await deps.deploymentService.completed(deployment, { status: 'dry-run', url: null }, { actor: PREVIEW_ACTOR, reason: run.job.data.reason });
  const now = await deps.tasks.find(task.id);
  const current = now !== null && now.headSha === sha && !FINISHED_STATES.has(now.state);
  const commentId = await deps.tasks.previewCommentId(task.id);
  log.info(
    { namespace, objects: manifests.map((m) => `${m.kind}/${m.metadata.name}`), deploymentId: deployment.id, sha },
    'dry-run: preview manifests rendered and stored, nothing deployed (no Kubernetes cluster configured)',
  );
  if (current) {
    await upsertPreviewComment(
      run,
      commentId,
      `Preview of \`${shortSha(sha)}\`: **dry-run**. No Kubernetes cluster is configured, so nothing was deployed; ` +
        `aiworker rendered the ${manifests.length} objects it would apply to namespace \`${namespace}\` and stored them with deployment ${deployment.id}.`,
    );
  }
  // Gitea's `warning`, never `success`: the manifests rendered, but nothing runs.
  await setPreviewStatus(deps, log, run.project, sha, {
    state: 'warning',
    description: `dry-run: ${manifests.length} manifests rendered, nothing deployed`,
  });
  return { status: 'dry-run', deploymentId: deployment.id, commitSha: sha, url: null, current };
}

/** Retries what may pass later; otherwise records the failure everywhere it is looked for, and stops. */
async function fail(run: Run, err: unknown): Promise<never> {
  const { job, deps, task, deployments, deployment, sha, log } = run;
  const message = err instanceof Error ? err.message : String(err);
  const permanent = isPermanent(err);
  const attempt = job.attemptsMade + 1;
  const attempts = job.opts.attempts ?? 1;
  if (!permanent && !isLastAttempt(job)) {
    log.warn({ err: message, attempt, attempts }, 'preview deploy failed; it will be retried');
    // Best effort: the error being handled may be the database's own, and the retry records its outcome anyway.
    await deployments.update(deployment.id, { error: `attempt ${attempt} of ${attempts} failed: ${message}` }).catch(() => undefined);
    throw err;
  }
  log.error({ err: message, attempt, attempts, permanent, sha }, run.dryRun ? 'dry-run: preview failed' : 'preview deploy failed');
  await deps.deploymentService.completed(deployment, { status: 'failed', url: null, error: message }, { actor: PREVIEW_ACTOR, reason: message });
  const commentId = await deps.tasks.previewCommentId(task.id);
  const what = run.dryRun ? 'Preview (dry-run)' : 'Preview';
  await setPreviewStatus(deps, log, run.project, sha, { state: 'failure', description: `${run.dryRun ? 'dry-run: ' : ''}preview failed: ${message}` });
  await upsertPreviewComment(
    run,
    commentId,
    `${what} of \`${shortSha(sha)}\` failed: ${message}\n\nTask ${task.id} stays \`${task.state}\`. Push a fix, or comment \`/retry\` to try again.`,
  );
  throw permanent ? new UnrecoverableError(message) : err;
}

async function deploy(job: Job<PreviewDeployRequest>, deps: Deps, log: Logger): Promise<Outcome> {
  const { taskId } = job.data;
  // Before the head is read: every request made until now is served by this run, including those
  // kept to follow it; only a request made after this point needs a run of its own.
  await deps.outbox.servedBy(job.id!, job.name, taskId);
  const task = await deps.tasks.find(taskId);
  if (!task) return skipped(log, `task ${taskId} does not exist`);
  if (FINISHED_STATES.has(task.state)) return skipped(log, `task ${taskId} is ${task.state}`);
  if (!task.headSha || !task.prNumber) return skipped(log, `task ${taskId} has no pull request head to deploy`);
  const project = await deps.projects.get(task.projectId);
  if (!project.previewImage) return skipped(log, `project ${project.name} has no preview image: a project without previews`);

  const { deployments } = deps;
  const teardown = await deployments.latest({ taskId, kind: 'teardown' });
  if (teardown && Date.parse(teardown.createdAt) >= (job.data.requestedAt ?? job.timestamp)) {
    return skipped(log, `the preview of task ${taskId} was torn down after this deploy was requested`);
  }

  // The head at run time, as Gitea says it now: pushes that joined this deploy while it waited are
  // in it, and a delivery Gitea sent late cannot make it deploy an older commit.
  const head = await headToDeploy(job, deps, { ...task, prNumber: task.prNumber, headSha: task.headSha }, project, log);
  if ('skip' in head) return skipped(log, head.skip);
  const { sha } = head;
  const dryRun = deps.cluster === null;
  let rendered: { manifests: KubeObject[]; url: string } | null = null;
  let renderError: unknown = null;
  try {
    rendered = render(task, project, sha, deps);
  } catch (err) {
    renderError = err;
  }
  const manifests = rendered?.manifests ?? null;
  const namespace = previewNamespaceName(taskId);

  // One row per job: retries (and /retry) update it rather than adding rows.
  const existing = await deployments.findByJob(job.id!, 'preview');
  const resumed = existing?.status === 'running';
  const fields = { commitSha: sha, manifests, dryRun, url: null, error: null };
  const deployment = existing
    ? await deployments.update(existing.id, { ...fields, status: resumed ? 'running' : 'pending', finishedAt: null })
    : await deployments.create({
        ...fields,
        projectId: project.id,
        taskId,
        environment: 'preview',
        kind: 'preview',
        status: 'pending',
        taskIds: [taskId],
        jobId: job.id,
      });
  const runLog = log.child({ sha, deploymentId: deployment.id, dryRun });
  const run: Run = { job, deps, log: runLog, deployments, deployment, task, project, sha, url: rendered?.url ?? '', namespace, dryRun };

  try {
    if (!resumed) {
      await setPreviewStatus(deps, run.log, project, sha, {
        state: 'pending',
        description: dryRun ? `dry-run: rendering the preview of ${shortSha(sha)}, nothing will be deployed` : `deploying the preview of ${shortSha(sha)}`,
      });
      await start(run);
    }
    if (!manifests) throw renderError;
    if (!deps.cluster) return await finishDryRun(run, manifests);
    await deps.cluster.apply(manifests);
    await deps.cluster.waitForRollout(namespace, PREVIEW_NAME, deps.config.preview.rolloutTimeoutMs);
    return await finishDeployed(run);
  } catch (err) {
    return fail(run, err);
  }
}

export const previewDeploy: JobDefinition<PreviewDeployRequest> = {
  queue: 'deploy',
  name: 'preview-deploy',
  async process(job, deps: Deps, token) {
    const log = deps.log.child({ job: job.name, jobId: job.id, taskId: job.data.taskId, reason: job.data.reason });
    return whileHolding(job, token, deps.redis, lockKeys.preview(deps.redisPrefix, job.data.taskId), () => deploy(job, deps, log));
  },
};
