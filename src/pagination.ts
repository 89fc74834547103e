import { z } from 'zod';

export interface Page {
  limit: number;
  offset: number;
}

/** Every list answer pages the same way: limit 1..1000 (default 100) and offset. */
export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});
