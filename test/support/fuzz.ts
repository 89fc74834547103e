import http from 'node:http';
import net from 'node:net';

/** mulberry32: small, fast and seeded, so a failing run is reproduced by its seed. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }

  /** A UUID v4 drawn from the generator, so delivery ids repeat with the seed. */
  uuid(): string {
    const hex = Array.from({ length: 32 }, () => this.int(0, 15).toString(16));
    hex[12] = '4';
    hex[16] = '89ab'[this.int(0, 3)];
    const s = hex.join('');
    return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
  }

  string(length: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'): string {
    let s = '';
    for (let i = 0; i < length; i++) s += alphabet[this.int(0, alphabet.length - 1)];
    return s;
  }
}

/*
 * Values no JSON.stringify can produce are written as placeholder strings, then swapped for their
 * raw text (or bytes) once the document is serialised: nesting deeper than the serialiser's stack
 * allows, and bytes that are not UTF-8.
 */
const DEEP = '\u0001deep:';
const BYTES = '\u0001bytes:';
const INVALID_UTF8 = [
  Buffer.from([0xff]),
  Buffer.from([0xc3, 0x28]),
  Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate half (CESU-8)
  Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]),
  Buffer.from([0xe2, 0x82]), // a truncated sequence
];

/** A placeholder for `levels` nested arrays (or objects) around a zero. */
export const deepValue = (levels: number, kind: 'array' | 'object' = 'array') => `${DEEP}${kind}:${levels}`;
export const invalidUtf8Value = (which: number) => `${BYTES}${which % INVALID_UTF8.length}`;

export function deepJson(levels: number, kind: 'array' | 'object' = 'array'): string {
  return kind === 'array' ? `${'['.repeat(levels)}0${']'.repeat(levels)}` : `${'{"a":'.repeat(levels)}0${'}'.repeat(levels)}`;
}

/** Replaces the placeholders of deepValue/invalidUtf8Value in serialised JSON by what they stand for. */
export function materialise(json: string): Buffer {
  const token = /"\\u0001(deep|bytes):([a-z]+:)?(\d+)"/g;
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of json.matchAll(token)) {
    parts.push(Buffer.from(json.slice(last, m.index), 'utf8'));
    if (m[1] === 'deep') parts.push(Buffer.from(deepJson(Number(m[3]), m[2] === 'object:' ? 'object' : 'array'), 'utf8'));
    else parts.push(Buffer.concat([Buffer.from('"x'), INVALID_UTF8[Number(m[3])], Buffer.from('y"')]));
    last = m.index + m[0].length;
  }
  parts.push(Buffer.from(json.slice(last), 'utf8'));
  return Buffer.concat(parts);
}

/** An object whose own enumerable `__proto__` key survives JSON.stringify, as a hostile sender writes it. */
export function protoKeyed(value: unknown): Record<string, unknown> {
  const o: Record<string, unknown> = { constructor: { prototype: { polluted: true } } };
  Object.defineProperty(o, '__proto__', { value, enumerable: true, writable: true, configurable: true });
  return o;
}

/** What a careless or hostile sender puts where a field should be. */
export function hostileValue(rng: Rng): unknown {
  switch (rng.int(0, 9)) {
    case 0:
      return rng.pick([null, true, false, 0, -1, 1.5, -0.5, 2 ** 31, 2 ** 32, 2 ** 53 + 2, 1e308, -1e308]);
    case 1:
      return rng.pick(['', ' ', '0', 'null', 'true', '-1', '1e400', 'NaN', '[]', '{}']);
    case 2:
      // Huge strings, some multi-byte so their bytes outgrow their length.
      return rng.pick(['x', 'Ω', '€', '🚀', '\u0000']).repeat(rng.pick([256, 1001, 30_000, 70_000]));
    case 3:
      return rng.pick([
        '🚀 émoji ẞ ß اختبار 日本語',
        '\u202eRTL override',
        'zero\u200bwidth\ufeffbom',
        '\ud800 lone surrogate',
        'a\u0000nul',
        '../../etc/passwd',
        "Robert'); DROP TABLE tasks;--",
        '<script>alert(1)</script>',
        '%00%ZZ%',
        'refs/heads/',
        'refs/pull/1/head',
        'task-1-',
        'task-99999999999999999999-x',
        'task-0-zero',
        '/approve\n/stage\n/retry\n/cancel\n/reject no\n/answer 42\n/preview\n/help',
        '> /approve',
        '```\n/approve\n```',
        'Task: 1\nTask: 2',
      ]);
    case 4:
      return rng.pick([[], [1, 'a', null], [[]], [{}], ['/approve']]);
    case 5:
      return rng.pick([{}, { login: 7 }, { a: { b: { c: [] } } }, { number: '1', ref: null, sha: [] }]);
    case 6:
      return protoKeyed(rng.pick([{ polluted: true }, null, [], 'x']));
    case 7:
      return deepValue(rng.pick([1000, 10_000, 30_000]), rng.pick(['array', 'object'] as const));
    case 8:
      return invalidUtf8Value(rng.int(0, 9));
    default:
      return undefined; // deletes the field
  }
}

/** Every path in a JSON document (objects and arrays), up to a depth, for random mutation. */
export function paths(node: unknown, depth = 6, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (node === null || typeof node !== 'object' || depth === 0) return [];
  const out: Array<Array<string | number>> = [];
  for (const key of Object.keys(node)) {
    const p = [...prefix, Array.isArray(node) ? Number(key) : key];
    out.push(p);
    out.push(...paths((node as Record<string, unknown>)[key], depth - 1, p));
  }
  return out;
}

export function getPath(root: unknown, path: ReadonlyArray<string | number>): unknown {
  return path.reduce<any>((node, key) => (node === null || typeof node !== 'object' ? undefined : node[key]), root);
}

/** Sets (or with undefined, deletes) a path, creating missing objects on the way. */
export function setPath(root: Record<string, unknown>, path: ReadonlyArray<string | number>, value: unknown): void {
  let node: any = root;
  for (const key of path.slice(0, -1)) {
    if (node[key] === null || typeof node[key] !== 'object') node[key] = {};
    node = node[key];
  }
  const leaf = path[path.length - 1];
  if (value === undefined) {
    if (Array.isArray(node) && typeof leaf === 'number') node.splice(leaf, 1);
    else delete node[leaf];
  } else {
    node[leaf] = value;
  }
}

export interface Reply {
  status: number;
  body: string;
  /** Set when the exchange failed below HTTP (reset, timeout). */
  error?: string;
}

export interface SendOptions {
  method?: string;
  path: string;
  /** An array value sends the header once per element. */
  headers?: Record<string, string | string[]>;
  body?: Buffer | string;
  /** Streams this chunk (chunked encoding, no Content-Length) until the server answers or `maxBytes` went out. */
  stream?: { chunk: Buffer; maxBytes: number };
  timeoutMs?: number;
}

export const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 32 });

/** One HTTP exchange with full control of headers and body bytes; never rejects. */
export function send(baseUrl: string, opts: SendOptions): Promise<Reply> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Reply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const headers: http.OutgoingHttpHeaders = { ...opts.headers };
    const body = typeof opts.body === 'string' ? Buffer.from(opts.body, 'utf8') : opts.body;
    if (body && !opts.stream) headers['content-length'] = String(body.length);
    const req = http.request({ host: url.hostname, port: url.port, method: opts.method ?? 'POST', path: opts.path, headers, agent: keepAlive });
    const timer = setTimeout(() => {
      req.destroy();
      done({ status: 0, body: '', error: `no answer within ${opts.timeoutMs ?? 10_000} ms` });
    }, opts.timeoutMs ?? 10_000);
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => done({ status: res.statusCode ?? 0, body: '', error: err.message }));
    });
    req.on('error', (err) => done({ status: 0, body: '', error: err.message }));
    if (opts.stream) {
      const { chunk, maxBytes } = opts.stream;
      let sent = 0;
      const pump = () => {
        while (!answered && !req.destroyed && sent < maxBytes) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        if (!req.destroyed) req.end();
      };
      pump();
    } else {
      req.end(body);
    }
  });
}

/** Raw bytes on a fresh socket, for what an HTTP client refuses to send; answers with the status line's code, if any. */
export function sendRaw(baseUrl: string, chunks: Array<Buffer | string>, opts: { closeAfterMs?: number; abort?: boolean } = {}): Promise<Reply> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname);
    const received: Buffer[] = [];
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(received).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, body: text });
    };
    const timer = setTimeout(finish, opts.closeAfterMs ?? 1000);
    socket.on('data', (c: Buffer) => received.push(c));
    socket.on('error', () => undefined);
    socket.on('close', finish);
    socket.on('connect', () => {
      for (const c of chunks) socket.write(c);
      // A client that goes away in the middle of its request.
      if (opts.abort) setTimeout(() => socket.resetAndDestroy(), 20);
    });
  });
}

/** Runs jobs with at most `concurrency` in flight, in order of the list. */
export async function runPool<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
