import { Redis } from 'ioredis';
import { createLogger } from '../../src/log.js';
import { Queues } from '../../src/queue/queues.js';
import { DeliveryQueue } from '../../src/webhooks/delivery-queue.js';
import type { DeliveryStore } from '../../src/webhooks/deliveries.js';
import { REDIS_URL, uniqueName } from './service.js';

/**
 * A DeliveryQueue on the real Redis under a prefix of its own, with a store that only records which
 * deliveries it was told to set back to `received`; `close` removes the prefix's keys.
 */
export function queueOnRedis() {
  const prefix = `aiwtest_${uniqueName()}`;
  const redis = new Redis(REDIS_URL);
  const queues = new Queues({ redisUrl: REDIS_URL, prefix });
  const markedReceived: string[][] = [];
  const store = { markReceived: async (ids: string[]) => void markedReceived.push(ids) } as unknown as DeliveryStore;
  const log = createLogger('silent');
  return {
    prefix,
    redis,
    queues,
    store,
    markedReceived,
    queue: new DeliveryQueue({ queues, deliveries: store, log }),
    /** The same queue on a Redis that is not there. */
    unreachable: () => {
      const down = new Queues({ redisUrl: 'redis://127.0.0.1:1', prefix });
      return { queue: new DeliveryQueue({ queues: down, deliveries: store, log }), close: () => down.close() };
    },
    async close() {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      await queues.close();
      redis.disconnect();
    },
  };
}
