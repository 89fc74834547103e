import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A real HTTP server on a free loopback port, for stand-ins that processes other than the test's can call. */
export interface LocalServer {
  readonly url: string;
  /** Drops open connections and stops listening. */
  close(): Promise<void>;
}

export async function startLocalServer(handler: http.RequestListener): Promise<LocalServer> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A loopback port free right now, for a service whose own URL must be known before it starts
 * (PUBLIC_URL, the OAuth2 redirect URI).
 */
export async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Answers with `body` as JSON, unless the client is gone. */
export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A loopback stand-in for a remote API: `start()` it, point clients at `url`, `close()` it. */
export abstract class LocalStandIn {
  private server: LocalServer | null = null;
  url = '';

  async start(): Promise<this> {
    this.server = await startLocalServer((req, res) => this.answer(req, res));
    this.url = this.server.url;
    return this;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    await server.close();
  }

  protected abstract answer(req: http.IncomingMessage, res: http.ServerResponse): void;
}
