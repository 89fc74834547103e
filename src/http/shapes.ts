import { z } from 'zod';
import { AGENT_STATUSES, type Agent } from '../agents/service.js';
import { DEPLOYMENT_ENVIRONMENTS, DEPLOYMENT_STATUSES, type Deployment } from '../deployments/store.js';
import type { MergeRun } from '../merges/runs.js';
import { MERGE_STYLES, type Project } from '../projects/service.js';
import type { WebhookState } from '../projects/webhook.js';
import type { Task, TaskDetail } from '../tasks/model.js';
import type { TaskEventView } from '../tasks/reads.js';
import { TASK_STATES } from '../tasks/states.js';
import { DELIVERY_STATUSES, type DeliveryView } from '../webhooks/deliveries.js';

/*
 * What the REST API answers, as zod schemas: the OpenAPI document is derived from them and the
 * tests check real answers against it. Each `satisfies` ties a schema to the type the code builds,
 * so the two cannot drift apart without the type check saying so.
 */

const at = z.iso.datetime();
const id = z.number().int().positive();

export const errorAnswer = z.object({
  error: z.object({
    code: z.string().meta({ description: 'stable, machine-readable: bad_request, unauthorized, forbidden, not_found, conflict, invalid_transition, …' }),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});

export const webhookState = z
  .union([
    z.object({ id, url: z.string(), events: z.array(z.string()), active: z.boolean() }),
    z.object({ error: z.string().meta({ description: 'why the webhook is not in place (Gitea refused, or a setting is missing)' }) }),
  ])
  .meta({ description: "the repository's Gitea webhook to aiworker, as Gitea reports it after the check" }) satisfies z.ZodType<WebhookState>;

export const project = z.object({
  id,
  name: z.string(),
  repo: z.string(),
  owner: z.string(),
  repoName: z.string(),
  defaultBranch: z.string(),
  stagingBranch: z.string(),
  previewImage: z.string().nullable(),
  argocdApplication: z.string().nullable(),
  argocdProductionApplication: z.string().nullable(),
  mergeStyle: z.enum(MERGE_STYLES),
  previewSettings: z.record(z.string(), z.unknown()),
  createdAt: at,
  updatedAt: at,
  permissions: z
    .object({ read: z.boolean(), write: z.boolean(), admin: z.boolean() })
    .optional()
    .meta({ description: "what the signed-in person may do on it (only for a person's session)" }),
}) satisfies z.ZodType<Project>;

export const createdProject = project.extend({ webhook: webhookState });

export const task = z.object({
  id,
  projectId: id,
  title: z.string(),
  description: z.string().nullable(),
  state: z.enum(TASK_STATES),
  branch: z.string().nullable(),
  prNumber: z.number().int().nullable(),
  prUrl: z.string().nullable(),
  headSha: z.string().nullable(),
  issueNumber: z.number().int().nullable(),
  previewUrl: z.string().nullable(),
  assignedAgentId: z.number().int().nullable(),
  approvedAt: at.nullable(),
  createdAt: at,
  updatedAt: at,
}) satisfies z.ZodType<Task>;

export const taskDetail = task.extend({
  questions: z.array(
    z.object({
      id,
      question: z.string(),
      askedByAgentId: z.number().int().nullable(),
      askedAt: at,
      answer: z.string().nullable(),
      answeredBy: z.string().nullable(),
      answeredAt: at.nullable(),
    }),
  ),
  feedback: z.array(
    z.object({
      id,
      kind: z.string(),
      author: z.string().nullable(),
      body: z.string(),
      // A review's line comments, fetched from Gitea after the feedback is stored ([] until then).
      comments: z.array(z.object({ path: z.string(), line: z.number().int(), body: z.string() })),
      headSha: z.string().nullable(),
      createdAt: at,
    }),
  ),
}) satisfies z.ZodType<TaskDetail>;

export const taskEvent = z.object({
  eventId: id,
  type: z.string(),
  from: z.string().nullable(),
  to: z.string().nullable(),
  actor: z.string().nullable(),
  reason: z.string().nullable(),
  at,
}) satisfies z.ZodType<TaskEventView>;

export const agent = z.object({
  id,
  name: z.string(),
  status: z.enum(AGENT_STATUSES),
  currentTaskId: z.number().int().nullable(),
  lastSeenAt: at.nullable(),
  createdAt: at,
}) satisfies z.ZodType<Agent>;

export const createdAgent = agent.extend({ token: z.string().meta({ description: 'shown once; aiworker keeps only its hash' }) });

export const delivery = z.object({
  id: z.string().meta({ description: "Gitea's X-Gitea-Delivery" }),
  event: z.string(),
  eventType: z.string(),
  action: z.string().nullable(),
  repository: z.string().nullable(),
  status: z.enum(DELIVERY_STATUSES),
  attempts: z.number().int(),
  lastError: z.string().nullable().meta({ description: 'why it failed, or why it was ignored' }),
  receivedAt: at,
  processedAt: at.nullable(),
}) satisfies z.ZodType<DeliveryView>;

export const replayed = z.object({ deliveryId: z.string(), status: z.enum(['queued', 'received']) });

export const deployment = z.object({
  id,
  projectId: id,
  taskId: z.number().int().nullable(),
  environment: z.enum(DEPLOYMENT_ENVIRONMENTS),
  kind: z.string(),
  status: z.enum(DEPLOYMENT_STATUSES),
  url: z.string().nullable(),
  commitSha: z.string().nullable(),
  taskIds: z.array(z.number().int()),
  dryRun: z.boolean(),
  error: z.string().nullable(),
  jobId: z.string().nullable(),
  createdAt: at,
  updatedAt: at,
  finishedAt: at.nullable(),
  manifests: z.array(z.unknown()).nullable().optional().meta({ description: 'the rendered manifests; only on GET /api/deployments/{id}' }),
}) satisfies z.ZodType<Deployment>;

export const mergeRun = z.object({
  id,
  projectId: id,
  kind: z.enum(['staging', 'promotion']),
  jobId: z.string(),
  status: z.enum(['queued', 'running', 'succeeded', 'conflicts', 'nothing_to_do', 'failed']),
  requestedBy: z.string().nullable(),
  taskIds: z.array(z.number().int()),
  merged: z.array(z.object({ prNumber: z.number().int(), taskId: z.number().int().optional(), taskIds: z.array(z.number().int()).optional() })),
  conflicts: z.array(z.object({ prNumber: z.number().int(), taskId: z.number().int().optional(), reason: z.string() })),
  skipped: z.array(z.object({ taskId: z.number().int(), prNumber: z.number().int().nullable(), reason: z.string() })),
  revision: z.string().nullable(),
  error: z.string().nullable(),
  createdAt: at,
  finishedAt: at.nullable(),
}) satisfies z.ZodType<MergeRun>;

export const me = z.object({
  login: z.string(),
  fullName: z.string(),
  avatarUrl: z.string(),
  csrfToken: z.string().meta({ description: 'send as X-CSRF-Token with every POST, PATCH, PUT or DELETE made with the session' }),
});

export const jobQueued = z.object({ jobId: z.string() });

/** A page of a list answer: `{<name>: [...], total}`. */
export const page = <K extends string, T extends z.ZodType>(name: K, item: T) =>
  z.object({ [name]: z.array(item), total: z.number().int().min(0) } as { [P in K]: z.ZodArray<T> } & { total: z.ZodNumber });

export const deliveryAnswer = z.object({
  status: z.enum(['received', 'queued', 'ignored', 'duplicate']),
  deliveryId: z.string(),
  reason: z.string().optional().meta({ description: 'why an ignored delivery is ignored' }),
});
