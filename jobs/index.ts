import type { JobDefinition } from './types.js';
import { webhookDelivery } from './webhook-delivery.js';

/** The single list of job processors; a new job is a new file and one line here. */
export const JOBS: readonly JobDefinition<never>[] = [webhookDelivery] as JobDefinition<never>[];
