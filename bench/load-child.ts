import { load } from './load.js';
import { giteaDelivery } from '../test/support/gitea-delivery.js';

/**
 * Runs in its own process so the load generator does not share the event loop (and core) of the
 * server it measures. Told what to send on argv (url, total, connections, offset, and optionally
 * `push:<owner/repo>:<branch>`); prints the result as JSON. By default each delivery labels an
 * issue of its own (as many ordering keys as deliveries); `push:…` sends pushes to one branch of
 * one repository (one ordering key), each moving it from the commit the previous one pushed.
 */
const [url, total, connections, offset, kind = 'labeled'] = process.argv.slice(2);
const n = Number(total);
const sha = (i: number) => i.toString(16).padStart(40, '0');
const make = (i: number) => {
  const at = Number(offset) + i;
  if (!kind.startsWith('push:')) return giteaDelivery('issues.labeled', { mutate: (p) => (p.issue.number = at) });
  const [, repo, branch] = kind.split(':');
  return giteaDelivery('push.task-branch', {
    mutate: (p) => {
      Object.assign(p, { ref: `refs/heads/${branch}`, before: sha(at), after: sha(at + 1) });
      p.repository.full_name = repo;
    },
  });
};
const deliveries = Array.from({ length: n }, (_, i) => make(i));
const cpu = process.cpuUsage();
const result = await load(url, n, Number(connections), (i) => deliveries[i]);
const used = process.cpuUsage(cpu);
process.stdout.write(JSON.stringify({ ...result, loadCpuMs: (used.user + used.system) / 1000 }));
