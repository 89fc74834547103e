import { createHmac } from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import { expect } from 'chai';
import { HANDLED_EVENT_TYPES, isHandledEventType } from '../../src/gitea/events.js';
import { parsePayload } from '../../src/gitea/payloads.js';
import { createProject, createTask, eventually, startTestService, TEST_API_TOKEN, type TestService } from '../support/service.js';
import { giteaDelivery, giteaJson, loadGiteaFixture, TEST_WEBHOOK_SECRET } from '../support/gitea-delivery.js';
import { startGiteaServer, type GiteaServer } from '../support/gitea-server.js';
import {
  deepJson,
  deepValue,
  getPath,
  hostileValue,
  invalidUtf8Value,
  keepAlive,
  materialise,
  paths,
  protoKeyed,
  Rng,
  runPool,
  send,
  sendRaw,
  setPath,
  type Reply,
  type SendOptions,
} from '../support/fuzz.js';

/*
 * Bad input, thousands of times (loopback only, bounded): mutated and hostile Gitea deliveries,
 * junk REST calls and junk JSON-RPC. The service must answer each with the status SPEC §3/§7
 * gives (never a 5xx but a deliberate 503), keep answering /healthz, leave no unhandled
 * rejection, settle every delivery it accepted, and not grow its heap.
 * FUZZ_SEED=<n> replays a run; the seed is printed at the start.
 */

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const MAX_BYTES = 256 * 1024; // room for 100k levels of [[...]] below the limit
const CONCURRENCY = 16;

const FIXTURES = [
  'create.task-branch',
  'issue_comment.issue',
  'issue_comment.pr',
  'issues.labeled',
  'issues.opened',
  'pull_request.closed',
  'pull_request.edited',
  'pull_request.labeled',
  'pull_request.merged-main',
  'pull_request.merged-staging',
  'pull_request.opened',
  'pull_request.reopened',
  'pull_request.synchronized',
  'pull_request_review_approved',
  'pull_request_review_comment',
  'pull_request_review_rejected',
  'push.main',
  'push.staging',
  'push.task-branch',
  'status',
];
const ABOUT_A_PR = (name: string) => name.startsWith('pull_request') || name === 'issue_comment.pr';

/** Every field some handler reads (handlers/*.ts), each a target for wrong types and absence. */
const HANDLER_FIELDS = [
  'action', 'ref', 'ref_type', 'sha', 'after', 'number', 'is_pull', 'label', 'label.name', 'commits',
  'sender', 'sender.login',
  'pull_request', 'pull_request.number', 'pull_request.state', 'pull_request.merged', 'pull_request.body',
  'pull_request.html_url', 'pull_request.head', 'pull_request.head.ref', 'pull_request.head.label',
  'pull_request.head.sha', 'pull_request.base', 'pull_request.base.ref',
  'review', 'review.content', 'review.type',
  'comment', 'comment.body', 'comment.user', 'comment.user.login',
  'issue', 'issue.number', 'issue.title', 'issue.body', 'issue.labels', 'issue.labels.0', 'issue.labels.0.name', 'issue.pull_request',
  'repository', 'repository.full_name',
].map((p) => p.split('.').map((k) => (/^\d+$/.test(k) ? Number(k) : k)));

const COMMANDS = ['/approve', '/reject', '/preview', '/stage', '/answer', '/cancel', '/retry', '/help', '/unknown'];
const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/json ; charset=UTF-8'];
const FORM_TYPE = 'application/x-www-form-urlencoded';
const OTHER_TYPES = ['', 'text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/vnd.gitea+json', 'json', '*/*'];
const BAD_DELIVERY_IDS = ['', ' ', 'a b', 'a/b', '../../x', "a'b", 'a:b', 'caf\u00e9', 'x'.repeat(65), '7'.repeat(300), '%00'];
const GARBAGE_EVENT_TYPES = ['', 'Push', 'push!', 'pull-request', 'PULL_REQUEST', 'x'.repeat(65), '42', 'push push', '\u00e9v\u00e9nement', '__proto__'];
const UNKNOWN_EVENT_TYPES = ['wiki', 'release', 'repository', 'fork', 'status', 'workflow_job', 'delete', 'package'];

const sign = (bytes: Buffer) => createHmac('sha256', TEST_WEBHOOK_SECRET).update(bytes).digest('hex');
const isUtf8 = (b: Buffer) => Buffer.from(b.toString('utf8'), 'utf8').equals(b);
/** application/x-www-form-urlencoded of arbitrary bytes (URLSearchParams only takes strings). */
const formOf = (payload: Buffer) =>
  'payload=' + [...payload].map((b) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`)).join('');

interface Case {
  kind: string;
  what: string;
  options: SendOptions;
  /** Statuses the contract allows for this input. */
  expect: readonly number[];
  /** Deliveries that must reach a final status in the workers, when accepted. */
  deliveryId?: string;
}

interface Outcome {
  c: Case;
  reply: Reply;
}

type Signatures = 'both' | 'gitea' | 'hub' | 'none' | 'wrong' | 'sha1' | 'duplicated';

/** The delivery headers Gitea sends, with the signature headers as asked. */
function deliveryHeaders(base: Record<string, string>, signedBytes: Buffer, signatures: Signatures): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = { ...base };
  for (const h of ['X-Gitea-Signature', 'X-Gogs-Signature', 'X-Hub-Signature', 'X-Hub-Signature-256']) delete headers[h];
  const hex = sign(signedBytes);
  const wrong = sign(Buffer.concat([signedBytes, Buffer.from(' ')]));
  if (signatures === 'both' || signatures === 'gitea') headers['X-Gitea-Signature'] = hex;
  if (signatures === 'both' || signatures === 'hub') headers['X-Hub-Signature-256'] = `sha256=${hex}`;
  if (signatures === 'wrong') Object.assign(headers, { 'X-Gitea-Signature': wrong, 'X-Hub-Signature-256': `sha256=${wrong}` });
  if (signatures === 'sha1') headers['X-Hub-Signature'] = `sha1=${createHmac('sha1', TEST_WEBHOOK_SECRET).update(signedBytes).digest('hex')}`;
  if (signatures === 'duplicated') Object.assign(headers, { 'X-Gitea-Signature': [wrong, hex], 'X-Hub-Signature-256': [`sha256=${hex}`, `sha256=${wrong}`] });
  return headers;
}

/** SPEC §3's order: size, signature, content type, JSON, then the headers that key and dispatch the delivery. */
function expectedIngest(c: { bytes: number; signed: boolean | 'either'; typeOk: boolean; jsonObject: boolean; idOk: boolean; eventOk: boolean | 'either' }): number[] {
  if (c.bytes > MAX_BYTES) return [413];
  if (c.signed === false) return [401];
  if (!c.typeOk) return c.signed === 'either' ? [401, 415] : [415];
  if (!c.jsonObject || !c.idOk) return c.signed === 'either' ? [400, 401] : [400];
  const accepted = c.eventOk === true ? [202] : c.eventOk === 'either' ? [202, 400] : [400];
  return c.signed === 'either' ? [...accepted, 401] : accepted;
}

class Generator {
  private reused: string[] = [];
  /** Deliveries the REST fuzz replayed: they are handled once more, by design. */
  readonly replayed = new Set<string>();

  constructor(
    private readonly rng: Rng,
    private readonly env: { taskIds: number[]; projectIds: number[]; agentToken: string },
  ) {}

  /** A mutation of a fixture: wrong types and absence in the fields handlers read, and anywhere else. */
  private mutate(p: Record<string, unknown>): void {
    const { rng } = this;
    if (p.comment && rng.chance(0.6)) {
      const login = rng.pick(['alice', 'bob', 'mallory', 'aiworker-bot']);
      setPath(p, ['comment', 'body'], `${rng.pick(COMMANDS)} ${String(rng.pick(['', 'because', 'x'.repeat(3000), '🚀', '42']))}\n${rng.pick(['', '/approve', '> /cancel'])}`);
      setPath(p, ['comment', 'user', 'login'], login);
      setPath(p, ['sender', 'login'], login);
    }
    const anywhere = paths(p).filter((path) => path[0] !== 'repository' || rng.chance(0.05));
    // Mostly keep the repository: a payload of no project is only ignored, and never reaches a handler.
    const handlerFields = rng.chance(0.05) ? HANDLER_FIELDS : HANDLER_FIELDS.filter((f) => f[0] !== 'repository');
    for (let i = rng.int(1, 4); i > 0; i--) {
      const op = rng.int(0, 9);
      if (op <= 4) setPath(p, rng.pick(handlerFields), hostileValue(rng));
      else if (op <= 7 && anywhere.length) setPath(p, rng.pick(anywhere), hostileValue(rng));
      else if (op === 8) {
        // An own "__proto__" key in some object of the payload: data to ignore, never a prototype.
        const objects = anywhere.filter((path) => {
          const node = getPath(p, path);
          return node !== null && typeof node === 'object' && !Array.isArray(node);
        });
        if (objects.length) {
          const path = rng.pick(objects);
          setPath(p, path, Object.assign(protoKeyed(hostileValue(rng)), getPath(p, path)));
        }
      } else {
        setPath(p, [rng.pick(['pull_request', 'issue', 'comment', 'sender', 'review', 'ref', 'repository'])], rng.pick([undefined, [], 'x', 7, null]));
      }
    }
  }

  /** A fixture, as a base for a case, with its task and PR numbers pointed at this test's tasks. */
  private fixture(mutate: boolean) {
    const { rng } = this;
    const name = rng.pick(FIXTURES);
    const d = giteaDelivery(name, {
      id: rng.uuid(),
      taskId: rng.pick(this.env.taskIds),
      prNumber: ABOUT_A_PR(name) ? rng.int(1, 30) : undefined,
      mutate: mutate ? (p) => this.mutate(p) : undefined,
    });
    return { name, d, json: materialise(giteaJson(d.payload)) };
  }

  /** A delivery Gitea could have signed, of a payload no handler expects: it must reach the workers and settle there. */
  signedMutation(): Case {
    const { rng } = this;
    const { name, d, json } = this.fixture(true);
    const form = rng.chance(0.2);
    const headers = deliveryHeaders(d.headers, json, rng.pick(['both', 'both', 'gitea', 'hub'] as const));
    headers['Content-Type'] = form ? FORM_TYPE : rng.pick(JSON_TYPES);
    // A payload shaped for another event than the one the headers name.
    if (rng.chance(0.15)) headers['X-Gitea-Event-Type'] = rng.pick(HANDLED_EVENT_TYPES);
    if (rng.chance(0.1)) Object.assign(headers, { 'X-Gitea-Event': rng.pick(GARBAGE_EVENT_TYPES), 'Content-Encoding': 'gzip', Authorization: 'Bearer junk' });
    const body = form ? Buffer.from(formOf(json)) : json;
    // Form bodies are decoded as UTF-8 before checking, so foreign bytes in them no longer match the signature.
    const hubOnly = headers['X-Gitea-Signature'] === undefined;
    const signed = isUtf8(json) || (!form && !hubOnly);
    return {
      kind: 'signed-mutation',
      what: `${name} mutated (${form ? 'form' : 'json'}, ${json.length} bytes)`,
      options: { path: '/webhooks/gitea', headers, body },
      expect: expectedIngest({ bytes: body.length, signed, typeOk: true, jsonObject: true, idOk: true, eventOk: true }),
      deliveryId: d.id,
    };
  }

  /** A well-formed payload under hostile headers. */
  hostileHeaders(): Case {
    const { rng } = this;
    const { name, d, json } = this.fixture(rng.chance(0.3));
    let headers = deliveryHeaders(d.headers, json, 'both');
    let idOk = true;
    let eventOk: boolean | 'either' = true;
    let signed: boolean | 'either' = true;
    let typeOk = true;
    let what: string;
    switch (rng.int(0, 6)) {
      case 0: {
        const id = rng.pick([...BAD_DELIVERY_IDS, undefined]);
        if (id === undefined) delete headers['X-Gitea-Delivery'];
        else headers['X-Gitea-Delivery'] = id;
        idOk = false;
        what = `delivery id ${JSON.stringify(id)?.slice(0, 40)}`;
        break;
      }
      case 1: {
        const type = rng.pick([...GARBAGE_EVENT_TYPES, undefined]);
        if (type === undefined) delete headers['X-Gitea-Event-Type'];
        else headers['X-Gitea-Event-Type'] = type;
        if (rng.chance(0.5)) delete headers['X-Gitea-Event'];
        // Unknown event types are recorded as ignored; ones that cannot be names may be refused instead.
        eventOk = 'either';
        what = `event type ${JSON.stringify(type)?.slice(0, 40)}`;
        break;
      }
      case 2: {
        const type = rng.chance(0.5) ? rng.pick(UNKNOWN_EVENT_TYPES) : `x_${rng.string(rng.int(1, 20), 'abcdefghijklmnopqrstuvwxyz_')}`;
        headers['X-Gitea-Event-Type'] = type;
        headers['X-Gitea-Event'] = type;
        what = `unknown event type ${type}`;
        break;
      }
      case 3: {
        const signatures = rng.pick(['none', 'wrong', 'sha1', 'duplicated', 'gitea', 'hub'] as const);
        headers = deliveryHeaders(d.headers, json, signatures);
        // Two values of one header: refusing them and taking the valid one are both sound.
        // X-Hub-Signature-256 is checked on the body's UTF-8 text, so it cannot vouch for foreign bytes.
        signed = signatures === 'gitea' || (signatures === 'hub' && isUtf8(json)) ? true : signatures === 'duplicated' ? 'either' : false;
        what = `signatures ${signatures}`;
        break;
      }
      case 4: {
        const type = rng.pick(OTHER_TYPES);
        if (type === '') delete headers['Content-Type'];
        else headers['Content-Type'] = type;
        typeOk = false;
        what = `content type ${JSON.stringify(type)}`;
        break;
      }
      case 5: {
        // A JSON body under the form type: its `payload` field is missing, so nothing signed is there.
        headers['Content-Type'] = FORM_TYPE;
        signed = false;
        what = 'JSON body labelled as a form';
        break;
      }
      default: {
        const junk = rng.pick(['X-Gitea-Hook-Installation-Target-Type', 'X-Forgejo-Event', 'Accept-Encoding', 'Authorization', 'Cookie', 'X-Forwarded-For']);
        headers[junk] = rng.pick(['\u00ff\u00fe', 'x'.repeat(4000), '', '1.2.3.4, ::1, garbage', '=;=;']);
        what = `junk header ${junk}`;
      }
    }
    return {
      kind: 'hostile-headers',
      what: `${name}: ${what}`,
      options: { path: '/webhooks/gitea', headers, body: json },
      expect: expectedIngest({ bytes: json.length, signed, typeOk, jsonObject: true, idOk, eventOk }),
      deliveryId: d.id,
    };
  }

  /** Signed bodies that are not a JSON object: truncated, nested 100k deep, foreign bytes, other JSON values. */
  hostileBody(): Case {
    const { rng } = this;
    const { d, json } = this.fixture(false);
    let body: Buffer;
    let jsonObject = false;
    const variant = rng.int(0, 9);
    switch (variant) {
      case 0:
        body = json.subarray(0, rng.int(1, json.length - 1));
        break;
      case 1:
        body = Buffer.from(deepJson(100_000, 'array'));
        break;
      case 2:
        body = Buffer.from(deepJson(rng.pick([10_000, 40_000]), 'object'));
        jsonObject = true;
        break;
      case 3: {
        // A real payload carrying a field nested 100k deep: accepted, and the worker must cope.
        const p = structuredClone(d.payload);
        p.nested = deepValue(100_000);
        body = materialise(giteaJson(p));
        jsonObject = true;
        break;
      }
      case 4: {
        const p = structuredClone(d.payload);
        setPath(p, rng.pick(HANDLER_FIELDS.filter((f) => f[0] !== 'repository')), invalidUtf8Value(rng.int(0, 9)));
        body = materialise(giteaJson(p));
        jsonObject = true;
        break;
      }
      case 5:
        body = Buffer.from(rng.pick(['null', '42', '"push"', 'true', '[]', '[{}]', '""']));
        break;
      case 6:
        body = Buffer.from(Array.from({ length: rng.int(1, 2000) }, () => rng.int(0, 255)));
        break;
      case 7:
        body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json]); // a byte order mark
        break;
      case 8:
        body = Buffer.from(rng.pick(['{', '{"a":', '{"a":1,}', "{'a':1}", '{"a":1}}', '{"a":NaN}', '{"a":01}', '{"a":"\\x"}', '{"a":"\u0001"}']));
        break;
      default:
        body = Buffer.from(`${'{"a":'.repeat(5)}${'x'.repeat(rng.int(0, 50))}`);
    }
    const headers = deliveryHeaders(d.headers, body, 'both');
    if (jsonObject && !isUtf8(body) && rng.chance(0.5)) delete headers['X-Gitea-Signature'];
    // Only X-Gitea-Signature is checked on the bytes themselves; X-Hub-Signature-256 is checked on their UTF-8 text.
    const signed = body.length > 0 && (isUtf8(body) || headers['X-Gitea-Signature'] !== undefined);
    // A JSON object a UTF-8 decoder accepts (foreign bytes become U+FFFD inside its strings).
    if (variant === 6 || variant === 7) {
      try {
        const v = JSON.parse(body.toString('utf8'));
        jsonObject = v !== null && typeof v === 'object' && !Array.isArray(v);
      } catch {
        jsonObject = false;
      }
    }
    return {
      kind: 'hostile-body',
      what: `body variant ${variant} (${body.length} bytes)`,
      options: { path: '/webhooks/gitea', headers, body },
      expect: expectedIngest({ bytes: body.length, signed, typeOk: true, jsonObject, idOk: true, eventOk: true }),
      deliveryId: d.id,
    };
  }

  /** Bodies past WEBHOOK_MAX_BYTES: declared, or streamed without a Content-Length. */
  oversized(): Case {
    const { rng } = this;
    const { d } = this.fixture(false);
    const streamed = rng.chance(0.5);
    const headers: Record<string, string | string[]> = { ...d.headers, 'X-Gitea-Signature': 'ab'.repeat(32) };
    if (streamed) {
      return {
        kind: 'oversized',
        what: 'chunked body that never ends',
        options: { path: '/webhooks/gitea', headers, stream: { chunk: Buffer.alloc(16 * 1024, ' '), maxBytes: MAX_BYTES * 8 } },
        expect: [413],
      };
    }
    const body = Buffer.alloc(MAX_BYTES + rng.int(1, 3 * MAX_BYTES), rng.pick(['[', ' ', 'x']));
    return { kind: 'oversized', what: `declared ${body.length} bytes`, options: { path: '/webhooks/gitea', headers, body }, expect: [413] };
  }

  /** A signed delivery sent again with the id of one already answered. */
  duplicate(): Case | null {
    const id = this.reused.length ? this.rng.pick(this.reused) : null;
    if (!id) return null;
    const d = giteaDelivery('push.staging', { id });
    return { kind: 'duplicate', what: `repeat of ${id}`, options: { path: '/webhooks/gitea', headers: d.headers, body: d.body }, expect: [200] };
  }

  private replayTarget(): string | null {
    if (!this.reused.length || this.rng.chance(0.5)) return null;
    const id = this.rng.pick(this.reused);
    this.replayed.add(id);
    return id;
  }

  rememberAccepted(id: string): void {
    if (this.reused.length < 200) this.reused.push(id);
  }

  webhook(): Case {
    const r = this.rng.next();
    if (r < 0.45) return this.signedMutation();
    if (r < 0.7) return this.hostileHeaders();
    if (r < 0.93) return this.hostileBody();
    if (r < 0.95) return this.oversized();
    return this.duplicate() ?? this.signedMutation();
  }

  /** REST calls with the API token: hostile ids, queries and bodies on a sample of endpoints. */
  rest(): Case {
    const { rng } = this;
    const id = () =>
      rng.chance(0.4)
        ? String(rng.pick([...this.env.taskIds, ...this.env.projectIds]))
        : rng.pick(['0', '-1', 'abc', '1.5', '1e3', '99999999999999999999', '%E2%82%AC', '%00', '%ZZ', '..%2F..', 'x'.repeat(3000), '__proto__', 'constructor']);
    const query = () =>
      rng.chance(0.5)
        ? ''
        : '?' +
          Array.from({ length: rng.int(1, 4) }, () => `${rng.pick(['limit', 'offset', 'projectId', 'state', 'status', '__proto__', 'x'])}=${rng.pick(['1', '-1', '0', '1001', 'abc', '1e400', '%ZZ', 'backlog', 'failed', '', '9'.repeat(40)])}`).join('&');
    const validBodies: Record<string, () => Record<string, unknown>> = {
      project: () => ({ name: 'Fuzzed', repo: `fuzz/r${rng.string(8)}`, previewSettings: { replicas: 1 } }),
      task: () => ({ projectId: rng.pick(this.env.projectIds), title: 'Fuzzed task', description: 'd' }),
      patch: () => ({ title: 'Renamed', state: rng.pick(['backlog', 'in_progress', 'cancelled', 'staging']) }),
      respond: () => ({ response: 'yes' }),
      merge: () => ({ taskIds: [rng.pick(this.env.taskIds)] }),
      agent: () => ({ name: 'fuzz-agent' }),
    };
    const endpoints: Array<[string, string, keyof typeof validBodies | null]> = [
      ['POST', '/api/projects', 'project'],
      ['GET', `/api/projects${query()}`, null],
      ['GET', `/api/projects/${id()}`, null],
      ['POST', `/api/projects/${id()}/promote`, null],
      ['POST', '/api/tasks', 'task'],
      ['GET', `/api/tasks${query()}`, null],
      ['GET', `/api/tasks/${id()}`, null],
      ['PATCH', `/api/tasks/${id()}`, 'patch'],
      ['POST', `/api/tasks/${id()}/respond`, 'respond'],
      ['GET', `/api/tasks/${id()}/events${query()}`, null],
      ['POST', '/api/merge', 'merge'],
      ['POST', '/api/agents', 'agent'],
      ['GET', `/api/agents${query()}`, null],
      ['GET', `/api/webhooks/deliveries${query()}`, null],
      ['POST', `/api/webhooks/deliveries/${this.replayTarget() ?? id()}/replay`, null],
    ];
    const [method, path, bodyKind] = rng.pick(endpoints);
    const headers: Record<string, string> = { Authorization: `Bearer ${TEST_API_TOKEN}` };
    let body: Buffer | undefined;
    let what = `${method} ${path.slice(0, 80)}`;
    if (bodyKind || rng.chance(0.2)) {
      const valid = bodyKind ? validBodies[bodyKind]() : {};
      const variant = rng.int(0, 7);
      headers['Content-Type'] = variant === 7 ? rng.pick(OTHER_TYPES.filter(Boolean)) : rng.pick(JSON_TYPES);
      if (variant <= 3) {
        const p = structuredClone(valid);
        for (let i = rng.int(1, 3); i > 0; i--) setPath(p, [rng.pick([...Object.keys(valid), 'previewSettings', 'extra'])], hostileValue(rng));
        if (rng.chance(0.1)) Object.assign(p, { extra: protoKeyed({ admin: true }) });
        if (rng.chance(0.2)) setPath(p, ['previewSettings'], { deep: deepValue(rng.pick([1000, 100_000])) });
        body = materialise(JSON.stringify(p));
      } else if (variant === 4) {
        body = Buffer.from(rng.pick(['', '{', 'null', '[]', '"x"', '{"a":1}}', deepJson(100_000)]));
      } else if (variant === 5) {
        body = Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('","title":"\u00e9"}')]);
      } else {
        body = Buffer.from(JSON.stringify(valid));
      }
      what += ` body variant ${variant} (${body.length} bytes)`;
    }
    if (rng.chance(0.05)) headers.Authorization = rng.pick(['', 'Bearer', 'Bearer wrong', `Basic ${TEST_API_TOKEN}`, `Bearer ${TEST_API_TOKEN}x`]);
    return { kind: 'rest', what, options: { method, path, headers, body }, expect: [] };
  }

  /** JSON-RPC junk on /mcp, mostly with a valid agent token so it reaches the MCP server. */
  mcp(): Case {
    const { rng } = this;
    const tools = ['get_next_task', 'get_task', 'list_tasks', 'ask_user_question', 'check_response', 'update_task_status', 'create_branch', 'create_pr', 'trigger_preview', 'add_comment', 'report_status'];
    const fields = ['taskId', 'projectId', 'state', 'question', 'waitSeconds', 'slug', 'title', 'body', 'status', 'note', 'limit', 'offset'];
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.env.agentToken}`,
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
    };
    const message = (): unknown => {
      const method = rng.pick(['tools/call', 'tools/call', 'tools/call', 'tools/list', 'initialize', 'ping', 'notifications/initialized', 'resources/list', 'prompts/get', 'nope', '']);
      const args: Record<string, unknown> = {};
      for (let i = rng.int(0, 4); i > 0; i--) args[rng.pick(fields)] = rng.chance(0.5) ? rng.pick([...this.env.taskIds, 'backlog', 'idle', 'x']) : hostileValue(rng);
      // check_response waits up to waitSeconds for an answer: keep the fuzz from sleeping.
      if ('waitSeconds' in args) args.waitSeconds = rng.pick([0, -1, 1.5, 'x', null]);
      const params =
        method === 'tools/call'
          ? rng.chance(0.8)
            ? { name: rng.pick([...tools, 'nope', '']), arguments: rng.chance(0.9) ? args : hostileValue(rng) }
            : hostileValue(rng)
          : method === 'initialize'
            ? { protocolVersion: rng.pick(['2025-06-18', '1999-01-01', 7]), capabilities: hostileValue(rng), clientInfo: hostileValue(rng) }
            : rng.chance(0.5)
              ? undefined
              : hostileValue(rng);
      const m: Record<string, unknown> = { jsonrpc: rng.chance(0.9) ? '2.0' : hostileValue(rng), method, params };
      if (!method.startsWith('notifications/')) m.id = rng.chance(0.8) ? rng.int(1, 1e6) : hostileValue(rng);
      return m;
    };
    let body: Buffer;
    const variant = rng.int(0, 9);
    if (variant <= 5) body = materialise(JSON.stringify(message()));
    else if (variant === 6) body = materialise(JSON.stringify(Array.from({ length: rng.int(0, 5) }, message)));
    else if (variant === 7) body = Buffer.from(rng.pick(['', '{', 'null', '42', '{"jsonrpc":"2.0"}', deepJson(100_000), '\u00ff']));
    else if (variant === 8) body = Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_task","arguments":{"taskId":"'), Buffer.from([0xff, 0xc3]), Buffer.from('"}}}')]);
    else body = materialise(JSON.stringify(message())).subarray(0, rng.int(1, 40));
    let method = 'POST';
    if (rng.chance(0.1)) {
      switch (rng.int(0, 4)) {
        case 0:
          headers.Authorization = rng.pick(['', 'Bearer nope', 'Bearer ' + 'x'.repeat(5000)]);
          break;
        case 1:
          headers.Accept = rng.pick(['', 'text/html', 'application/json']);
          break;
        case 2:
          headers['Content-Type'] = rng.pick(['text/plain', '', 'application/x-www-form-urlencoded']);
          break;
        default:
          method = rng.pick(['GET', 'DELETE', 'PUT']);
      }
    }
    return { kind: 'mcp', what: `mcp variant ${variant} ${method} ${body.subarray(0, 120).toString('utf8')}`, options: { method, path: '/mcp', headers, body }, expect: [] };
  }
}

/** A 5xx is only ever a deliberate 503 with the error code that says so. */
function violation(o: Outcome): string | null {
  const { c, reply } = o;
  if (reply.status === 0) return `no HTTP answer (${reply.error})`;
  if (reply.status >= 500 && !(reply.status === 503 && /"unavailable"/.test(reply.body))) return `answered ${reply.status}: ${reply.body.slice(0, 300)}`;
  if (c.expect.length && !c.expect.includes(reply.status)) return `answered ${reply.status}, expected ${c.expect.join(' or ')}: ${reply.body.slice(0, 300)}`;
  if (c.kind !== 'mcp' && reply.status >= 400) {
    // Every refusal is the one error shape SPEC §7 names.
    try {
      const parsed = JSON.parse(reply.body);
      if (typeof parsed?.error?.code !== 'string' || typeof parsed.error.message !== 'string') return `error body without {error: {code, message}}: ${reply.body.slice(0, 200)}`;
    } catch {
      return `error body is not JSON: ${reply.body.slice(0, 200)}`;
    }
  }
  return null;
}

describe('fuzz: bad input', function () {
  this.timeout(120_000);
  let svc: TestService;
  let gitea: GiteaServer;
  let gen: Generator;
  let warmHeap = 0;
  const accepted = new Set<string>();
  const crashes: unknown[] = [];
  const onCrash = (err: unknown) => crashes.push(err);
  let requests = 0;
  let started = 0;

  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  /** heapUsed once garbage is really gone: several full collections, with the event loop turning in between. */
  async function settledHeap(): Promise<number> {
    for (let i = 0; i < 4; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 50));
    }
    return process.memoryUsage().heapUsed;
  }

  async function run(cases: Case[]): Promise<string[]> {
    requests += cases.length;
    const outcomes = await runPool(cases, CONCURRENCY, async (c) => ({ c, reply: await send(svc.url!, c.options) }));
    const failures: string[] = [];
    for (const o of outcomes) {
      const v = violation(o);
      if (v) failures.push(`[${o.c.kind}] ${o.c.what}: ${v}`);
      if (o.c.deliveryId && o.reply.status === 202) {
        accepted.add(o.c.deliveryId);
        gen.rememberAccepted(o.c.deliveryId);
      }
    }
    return failures;
  }

  async function healthy(): Promise<void> {
    const res = await send(svc.url!, { method: 'GET', path: '/healthz', timeoutMs: 2000 });
    expect(res.status, `seed ${SEED}: /healthz`).to.equal(200);
    expect(crashes, `seed ${SEED}: unhandled rejections or exceptions`).to.deep.equal([]);
  }

  const report = (failures: string[]) => `seed ${SEED}: ${failures.length} bad answer(s):\n${failures.slice(0, 15).join('\n')}`;

  before(async () => {
    console.log(`    fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
    started = Date.now();
    process.on('unhandledRejection', onCrash);
    process.on('uncaughtException', onCrash);
    gitea = await startGiteaServer();
    gitea.setPermission('alice', 'write');
    gitea.setPermission('bob', 'write');
    gitea.setPermission('mallory', 'read');
    svc = await startTestService(
      { WEBHOOK_MAX_BYTES: String(MAX_BYTES), ...gitea.env() },
      { gitea: { retries: 0, timeoutMs: 2000 } },
    );
    const project = await createProject(svc, { argocdApplication: 'webapp-staging', argocdProductionApplication: 'webapp-prod' });
    const taskIds: number[] = [];
    // Deliveries about one task are handled one at a time: many tasks keep the workers' queue moving.
    for (let i = 0; i < 30; i++) taskIds.push((await createTask(svc, project.id, `Fuzz target ${i}`)).id);
    const agent = await svc.api('POST', '/api/agents', { name: 'fuzz-agent' });
    gen = new Generator(new Rng(SEED), { taskIds, projectIds: [project.id], agentToken: agent.body.token });

    // Warm-up: every path compiled, every pool and cache filled, before the heap baseline.
    const warm = [
      ...Array.from({ length: 250 }, () => gen.webhook()),
      ...Array.from({ length: 60 }, () => gen.rest()),
      ...Array.from({ length: 60 }, () => gen.mcp()),
    ];
    const failures = await run(warm);
    expect(failures, report(failures)).to.deep.equal([]);
    await waitForDeliveries();
    warmHeap = await settledHeap();
  });

  after(async () => {
    await svc?.cleanup();
    keepAlive.destroy();
    await gitea?.close();
    process.off('unhandledRejection', onCrash);
    process.off('uncaughtException', onCrash);
  });

  /** Every accepted delivery reaches a final status in a bounded time; none stays received or queued. */
  async function waitForDeliveries(timeoutMs = 20_000): Promise<void> {
    const ids = [...accepted];
    const pending = async () =>
      (await svc.db('webhook_deliveries').whereIn('delivery_id', ids).whereIn('status', ['received', 'queued']).select('delivery_id', 'status', 'attempts', 'last_error')) as Array<Record<string, unknown>>;
    try {
      await eventually(async () => (await pending()).length === 0, timeoutMs, 'deliveries to settle');
    } catch {
      const stuck = await pending();
      expect.fail(`seed ${SEED}: ${stuck.length} deliveries still pending: ${JSON.stringify(stuck.slice(0, 5))}`);
    }
  }

  it('fails a signed delivery of the wrong shape on its first attempt, naming the field', async () => {
    const wrong = [
      giteaDelivery('pull_request.opened', { mutate: (p) => (p.pull_request.number = '7') }),
      giteaDelivery('issue_comment.pr', { mutate: (p) => delete p.comment }),
      giteaDelivery('push.task-branch', { mutate: (p) => (p.ref = 42) }),
      giteaDelivery('issues.labeled', { mutate: (p) => (p.issue.title = 'x'.repeat(501)) }),
      // Once retried five times: the lone surrogate made encodeURIComponent throw in the permission lookup.
      giteaDelivery('issue_comment.pr', { mutate: (p) => Object.assign(p.comment, { body: '/approve', user: { login: '\ud800bob' } }) }),
    ];
    for (const d of wrong) expect((await svc.deliver(d)).status).to.equal(202);
    const fields = ['pull_request.number', 'comment', 'ref', 'issue.title', 'comment.user.login'];
    for (const [i, d] of wrong.entries()) {
      expect(await svc.settled(d.id)).to.equal('failed');
      const row = (await svc.deliveries.get(d.id))!;
      expect(row.attempts).to.equal(1);
      expect(row.last_error).to.match(/^malformed [a-z_]+ payload: /).and.include(fields[i]);
    }
    // The check is no stricter than Gitea: every fixture of a handled event passes it.
    for (const name of FIXTURES) {
      const { headers, payload } = loadGiteaFixture(name);
      if (!isHandledEventType(headers['X-Gitea-Event-Type'])) continue;
      const checked = parsePayload(headers['X-Gitea-Event-Type'], payload);
      expect(checked.ok ? null : checked.problem, name).to.equal(null);
    }
  });

  it('stores a delivery whatever JSON stands where the ordering key is read from', async () => {
    // Once a 503 ("database unavailable"): the ordering key threw on a non-string head.ref or body.
    const odd = [
      giteaDelivery('pull_request.opened', { mutate: (p) => (p.pull_request.head.ref = { ref: 'x' }) }),
      giteaDelivery('pull_request.opened', { mutate: (p) => (p.pull_request.body = [[['Task: 1']]]) }),
      giteaDelivery('pull_request.opened', { mutate: (p) => (p.pull_request = 'x') }),
    ];
    for (const d of odd) {
      expect((await svc.deliver(d)).status).to.equal(202);
      expect(await svc.settled(d.id)).to.equal('failed');
    }
  });

  it('keeps what REST accepts: long multi-byte texts stored, deep previewSettings refused with 400', async () => {
    const projectId = (await svc.api('GET', '/api/projects')).body.projects[0].id;
    // 65,535 characters of 3 bytes each: three times what a TEXT column holds.
    const task = await svc.api('POST', '/api/tasks', { projectId, title: 'Long', description: '€'.repeat(65_535) });
    expect(task.status, JSON.stringify(task.body).slice(0, 200)).to.equal(201);
    expect((await svc.api('GET', `/api/tasks/${task.body.id}`)).body.description).to.have.length(65_535);
    const nested = (levels: number) => `{"name":"Deep","repo":"deep/r${levels}","previewSettings":{"a":${deepJson(levels)}}}`;
    expect((await svc.api('POST', '/api/projects', nested(7))).status).to.equal(201);
    for (const levels of [8, 40, 100_000]) {
      const res = await svc.api('POST', '/api/projects', nested(levels));
      expect(res.status, `${levels} levels`).to.equal(400);
      expect(res.body.error.message).to.match(/previewSettings: must not nest more than 8 levels/);
    }
  });

  it('answers mutated and hostile webhook deliveries as SPEC §3 says, never with a 5xx', async () => {
    const failures = await run(Array.from({ length: 2600 }, () => gen.webhook()));
    expect(failures, report(failures)).to.deep.equal([]);
    await healthy();
  });

  it('answers junk REST calls with 4xx errors in the error shape, never with a 5xx', async () => {
    const failures = await run(Array.from({ length: 700 }, () => gen.rest()));
    expect(failures, report(failures)).to.deep.equal([]);
    await healthy();
  });

  it('answers junk JSON-RPC on /mcp without a 5xx', async () => {
    const failures = await run(Array.from({ length: 600 }, () => gen.mcp()));
    expect(failures, report(failures)).to.deep.equal([]);
    await healthy();
  });

  it('survives protocol garbage and clients that vanish mid-request', async () => {
    const head = (extra: string) => `POST /webhooks/gitea HTTP/1.1\r\nHost: x\r\n${extra}`;
    const raws: Array<[Array<Buffer | string>, { abort?: boolean }, readonly number[]]> = [
      [['GARBAGE\r\n\r\n'], {}, [400]],
      [[head('X-Gitea-Event-Type: pu\u0000sh\r\nContent-Length: 2\r\n\r\n{}')], {}, [400]],
      [[head(`X-Junk: ${'x'.repeat(20_000)}\r\nContent-Length: 2\r\n\r\n{}`)], {}, [431]],
      [[head('Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}')], {}, [400]],
      [[head('Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n')], {}, [400]],
      [[head('Content-Length: -1\r\n\r\n')], {}, [400]],
      [[head('Content-Length: 1, 2\r\n\r\n{}')], {}, [400]],
      [[Buffer.from(head('Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"ref":')), 'x'.repeat(1000)], { abort: true }, []],
      [[head('Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"ref":"refs/hea\r\n')], { abort: true }, []],
      [[`${head('Content-Length: 0\r\n\r\n')}${head('Content-Length: 0\r\n\r\n')}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`], {}, [401]],
      [[Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00])], {}, [400]], // a TLS ClientHello on the plain port
    ];
    const failures: string[] = [];
    for (const [chunks, opts, allowed] of raws) {
      requests++;
      const reply = await sendRaw(svc.url!, chunks, { ...opts, closeAfterMs: 500 });
      const what = String(chunks[0]).slice(0, 60).replace(/\r\n/g, '\\r\\n');
      if (reply.status >= 500) failures.push(`${what}: ${reply.status}`);
      if (allowed.length && !allowed.includes(reply.status)) failures.push(`${what}: ${reply.status}, expected ${allowed.join(' or ')}`);
    }
    // The real thing still works after all that.
    const d = giteaDelivery('push.staging');
    expect((await svc.deliver(d)).status).to.equal(202);
    accepted.add(d.id);
    expect(failures, `seed ${SEED}: ${failures.join('\n')}`).to.deep.equal([]);
    await healthy();
  });

  it('settles every accepted delivery: processed, ignored, or failed at once with a lastError', async () => {
    await waitForDeliveries(30_000);
    const rows = await svc.db('webhook_deliveries').whereIn('delivery_id', [...accepted]).select('delivery_id', 'event_type', 'status', 'attempts', 'last_error');
    expect(rows.length).to.equal(accepted.size);
    const counts = rows.reduce<Record<string, number>>((acc, r) => ((acc[r.status] = (acc[r.status] ?? 0) + 1), acc), {});
    console.log(`    ${requests} requests in ${((Date.now() - started) / 1000).toFixed(1)} s; accepted deliveries: ${JSON.stringify(counts)}`);
    expect(counts.processed ?? 0, 'some mutations are harmless and get handled').to.be.greaterThan(0);
    for (const r of rows) {
      expect(['processed', 'ignored', 'failed'], `${r.delivery_id}`).to.include(r.status);
      if (r.status !== 'failed') continue;
      expect(r.last_error, `seed ${SEED}: failed delivery ${r.delivery_id} (${r.event_type}) without lastError`).to.be.a('string').and.not.equal('');
      // A payload of the wrong shape cannot get better by retrying: it fails on its first attempt.
      if (!gen.replayed.has(r.delivery_id)) expect(r.attempts, `seed ${SEED}: delivery ${r.delivery_id} (${r.event_type}) retried: ${r.last_error}`).to.equal(1);
    }
    // The worker still handles real deliveries.
    const d = giteaDelivery('issues.labeled', { mutate: (p) => (p.issue.number = 4242) });
    expect((await svc.deliver(d)).status).to.equal(202);
    expect(await svc.settled(d.id, 15_000)).to.equal('processed');
  });

  it('keeps its heap and its metric labels bounded', async () => {
    await healthy();
    const heap = await settledHeap();
    const growth = heap - warmHeap;
    console.log(`    heap after warm-up ${(warmHeap / 2 ** 20).toFixed(1)} MiB, after the run ${(heap / 2 ** 20).toFixed(1)} MiB`);
    // Thousands of requests after the warm-up: a leak of a few KiB per request exceeds this.
    expect(growth, `seed ${SEED}: heap grew by ${(growth / 2 ** 20).toFixed(1)} MiB`).to.be.below(24 * 2 ** 20);
    // Label values come from a fixed set, not from what senders write in headers.
    const metrics = (await svc.api('GET', '/metrics')).body as string;
    const eventTypes = new Set([...metrics.matchAll(/aiworker_webhooks_received_total\{event_type="([^"]*)"/g)].map((m) => m[1]));
    const allowed = new Set<string>([...HANDLED_EVENT_TYPES, 'other', 'invalid']);
    expect([...eventTypes].filter((t) => !allowed.has(t)), 'event_type labels outside the known set').to.deep.equal([]);
    // Not even the requests whose clients vanished before the answer were failures of the server.
    const serverErrors = [...metrics.matchAll(/aiworker_http_request_duration_seconds_count\{([^}]*status="5(?!03)\d\d"[^}]*)\} (\d+)/g)].map((m) => `${m[1]}: ${m[2]}`);
    expect(serverErrors, `seed ${SEED}: requests answered with a 5xx`).to.deep.equal([]);
    expect(Date.now() - started, 'the whole fuzz run stays under a minute and a half').to.be.below(90_000);
    expect(requests).to.be.at.most(5000);
  });
});
