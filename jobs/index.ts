import type { JobDefinition } from './types.js';
import { webhookDelivery } from './webhook-delivery.js';
import { webhookRelay } from './webhook-relay.js';
import { stagingMerge } from './staging-merge.js';
import { promotion } from './promotion.js';
import { environmentSync } from './environment-sync.js';
import { previewDeploy } from './preview-deploy.js';
import { previewTeardown } from './preview-teardown.js';
import { previewCleanup } from './preview-cleanup.js';
import { deliveryPruning } from './delivery-pruning.js';
import { agentLiveness } from './agent-liveness.js';
import { taskWaiting } from './task-waiting.js';
import { reviewComments } from './review-comments.js';

/** The single list of job processors; a new job is a new file and one line here. */
export const JOBS: readonly JobDefinition<never>[] = [
  webhookDelivery,
  webhookRelay,
  stagingMerge,
  promotion,
  environmentSync,
  previewDeploy,
  previewTeardown,
  previewCleanup,
  deliveryPruning,
  agentLiveness,
  taskWaiting,
  reviewComments,
] as JobDefinition<never>[];
