import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Shutdown } from '../lifecycle/shutdown.js';

/**
 * Listens on port; shutdown closes the server, finishing in-flight requests for up to `drainMs`
 * (half the shutdown grace period, so the steps after it still have time).
 */
export async function listen(server: http.Server, port: number, shutdown: Shutdown, drainMs: number): Promise<string> {
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve());
  });
  shutdown.add('http', () => new Promise<void>((resolve) => {
    // A keep-alive connection busy at close() turns idle once its answer is sent, and would then
    // hold the close for the whole keep-alive timeout: idle ones are swept until all are gone, and
    // whatever is still open after drainMs (a stalled client) is cut.
    const sweep = setInterval(() => server.closeIdleConnections(), 100);
    const cut = setTimeout(() => server.closeAllConnections(), drainMs);
    server.close(() => {
      clearInterval(sweep);
      clearTimeout(cut);
      resolve();
    });
    server.closeIdleConnections();
  }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
