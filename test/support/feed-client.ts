import { io as connectClient, type Socket } from 'socket.io-client';

/** An event a feed client received. */
export interface Received {
  type: string;
  payload: Record<string, any>;
}

/** A feed client that records every event it gets, in arrival order. */
export interface FeedClient {
  socket: Socket;
  events: Received[];
  ids(): number[];
}

/** How a client opens the feed: `auth` as the handshake carries it (a token), `headers` (a session cookie, an Origin). */
export interface FeedOptions {
  auth?: Record<string, unknown>;
  headers?: Record<string, string>;
}

/** A socket to the feed, over WebSocket only, never reconnecting on its own. */
export function openFeed(url: string, opts: FeedOptions = {}): Socket {
  return connectClient(url, { auth: opts.auth, extraHeaders: opts.headers, transports: ['websocket'], reconnection: false, forceNew: true });
}

/** A connected feed client; rejects with the handshake's refusal. */
export async function connectFeed(url: string, opts: FeedOptions = {}): Promise<FeedClient> {
  const socket = openFeed(url, opts);
  const events: Received[] = [];
  socket.onAny((type: string, payload: Record<string, any>) => events.push({ type, payload }));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return { socket, events, ids: () => events.map((e) => e.payload.eventId as number) };
}

/** The message a refused handshake gets (fails if the handshake is accepted). */
export async function refusedWith(url: string, opts: FeedOptions = {}): Promise<string> {
  const socket = openFeed(url, opts);
  try {
    return await new Promise<string>((resolve, reject) => {
      socket.once('connect', () => reject(new Error('connected, but the handshake should be refused')));
      socket.once('connect_error', (err) => resolve(err.message));
    });
  } finally {
    socket.close();
  }
}
