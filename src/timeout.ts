/** Rejects with `<what>: no answer within <ms> ms` when p takes longer; the timer never holds the process open. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, expiry]).finally(() => clearTimeout(timer));
}
