import type { z } from 'zod';
import { badRequest } from '../errors.js';

/** Parses input against a schema; the 400 names every field that is wrong and why. */
export function validate<S extends z.ZodType>(schema: S, input: unknown, where = 'body'): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : where}: ${i.message}`);
  throw badRequest(`invalid ${where}: ${problems.join('; ')}`, { problems });
}
