import { z } from 'zod';

export interface Page {
  limit: number;
  offset: number;
}

const MAX_PAGE = 1000;

/**
 * Every list answer pages the same way: limit (default 100) and offset. A limit over 1000 is
 * served as 1000, as Gitea's own API clamps its page size; one below 1 or not a whole number is a 400.
 */
export const pageQuery = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .default(100)
    .transform((n) => Math.min(n, MAX_PAGE)),
  offset: z.coerce.number().int().min(0).default(0),
});
