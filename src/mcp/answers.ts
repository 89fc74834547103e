import type { Redis } from '../redis.js';
import { withTimeout } from '../timeout.js';
import { createRedis } from '../redis.js';
import type { Logger } from '../log.js';
import type { AnswerNotifier } from '../tasks/service.js';

export const answersChannel = (prefix: string) => `${prefix}:answers`;

/** Tells every process that a task's question was answered; the answer itself is already committed in MySQL. */
export class RedisAnswerNotifier implements AnswerNotifier {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {}

  async answered(taskId: number): Promise<void> {
    try {
      await this.redis.publish(answersChannel(this.prefix), String(taskId));
    } catch (err) {
      // The answer is stored: a waiting agent sees it when its wait ends or on its next check.
      this.log.warn({ err, taskId }, 'answer notification not published');
    }
  }
}

export interface AnswerWaiterOptions {
  redisUrl: string;
  prefix: string;
  log: Logger;
  /** How long a wait may take to get its subscription in place before it gives up waiting. */
  subscribeTimeoutMs?: number;
}

/**
 * Lets check_response wait for an answer without polling MySQL: one Redis subscription per
 * process, and the waiters of each task woken when an answer to it is published.
 */
export class AnswerWaiter {
  private readonly waiting = new Map<number, Set<() => void>>();
  private subscriber: Redis | null = null;
  private subscribed: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly opts: AnswerWaiterOptions) {}

  /**
   * Waits until `isAnswered()` holds, at most `timeoutMs`. The check runs once the subscription is
   * in place and again after each wake-up, so an answer committed in between is never missed.
   * Resolves with the last check's outcome; ends early (false) on abort or shutdown.
   */
  async waitFor(taskId: number, timeoutMs: number, isAnswered: () => Promise<boolean>, signal?: AbortSignal): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    // `pending` remembers a message that arrives while the check runs, so it is not slept through.
    let pending = false;
    let wake = () => undefined as void;
    const listener = () => {
      pending = true;
      wake();
    };
    const listeners = this.waiting.get(taskId) ?? new Set<() => void>();
    listeners.add(listener);
    this.waiting.set(taskId, listeners);
    const onAbort = () => wake();
    signal?.addEventListener('abort', onAbort);
    try {
      if (!(await this.subscribe())) return isAnswered();
      for (;;) {
        pending = false;
        if (await isAnswered()) return true;
        const left = deadline - Date.now();
        if (left <= 0 || this.closed || signal?.aborted) return false;
        if (pending) continue;
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, left);
        });
        clearTimeout(timer);
        wake = () => undefined;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      listeners.delete(listener);
      if (!listeners.size) this.waiting.delete(taskId);
    }
  }

  /** Wakes every waiter (they answer with what MySQL holds) and drops the subscription. */
  async close(): Promise<void> {
    this.closed = true;
    for (const listeners of this.waiting.values()) for (const wake of listeners) wake();
    this.subscriber?.disconnect();
    this.subscriber = null;
  }

  /** True once messages for this process arrive; false when Redis cannot be reached in time. */
  private async subscribe(): Promise<boolean> {
    if (this.closed) return false;
    this.subscribed ??= this.connect();
    try {
      await withTimeout(this.subscribed, this.opts.subscribeTimeoutMs ?? 3000, 'answers subscription');
      return true;
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'cannot subscribe to answers: check_response answers without waiting');
      return false;
    }
  }

  private async connect(): Promise<void> {
    // A subscriber connection may queue its SUBSCRIBE until Redis is there, and resubscribes after a reconnect.
    const subscriber = createRedis(this.opts.redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: null });
    subscriber.on('error', (err) => this.opts.log.debug({ err: err.message }, 'answers subscriber connection error'));
    subscriber.on('message', (_channel: string, message: string) => {
      for (const wake of this.waiting.get(Number(message)) ?? []) wake();
    });
    this.subscriber = subscriber;
    try {
      await subscriber.subscribe(answersChannel(this.opts.prefix));
    } catch (err) {
      // Let the next wait try again rather than remember the failure forever.
      this.subscribed = null;
      subscriber.disconnect();
      throw err;
    }
  }
}
