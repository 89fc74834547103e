import { load } from './load.js';
import { giteaDelivery } from '../test/support/gitea-delivery.js';

/**
 * Runs in its own process so the load generator does not share the event loop (and core) of the
 * server it measures. Told what to send on argv; prints the result as JSON.
 */
const [url, total, connections, offset] = process.argv.slice(2);
const n = Number(total);
const deliveries = Array.from({ length: n }, (_, i) =>
  giteaDelivery('issues.labeled', { mutate: (p) => (p.issue.number = Number(offset) + i) }),
);
const cpu = process.cpuUsage();
const result = await load(url, n, Number(connections), (i) => deliveries[i]);
const used = process.cpuUsage(cpu);
process.stdout.write(JSON.stringify({ ...result, loadCpuMs: (used.user + used.system) / 1000 }));
