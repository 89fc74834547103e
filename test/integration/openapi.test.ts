import { expect } from 'chai';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { openApiPath, registeredRoutes } from '../../src/http/openapi.js';
import { createTask, eventually, moveTask, startTestService, TEST_API_TOKEN, type TestService } from '../support/service.js';
import { giteaDelivery } from '../support/gitea-delivery.js';
import { startGiteaServer, type GiteaServer } from '../support/gitea-server.js';
import { signIn, startConsoleService } from '../support/console.js';

/** Routes the document must describe: the REST API and Gitea's webhook endpoint. */
const described = (path: string) => path.startsWith('/api/') || path === '/webhooks/gitea';

describe('GET /api/openapi.json', function () {
  let svc: TestService;
  let gitea: GiteaServer;
  let doc: any;
  let ajv: Ajv2020;
  const validators = new Map<string, ValidateFunction>();
  /** `<method> <path> <status>` of every answer checked against the document. */
  const checked = new Set<string>();

  before(async () => {
    gitea = await startGiteaServer();
    svc = await startTestService({ ...gitea.env(), PUBLIC_URL: 'https://aiworker.example.com' });
    const res = await fetch(`${svc.url}/api/openapi.json`);
    expect(res.status, 'served without a token').to.equal(200);
    doc = await res.json();
    ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    // The document itself, so an answer's `$ref: #/components/…` resolves inside it.
    ajv.addSchema({ $id: 'openapi.json', components: doc.components });
  });
  after(async () => {
    await svc?.cleanup();
    await gitea?.close();
  });

  it('is OpenAPI 3.1 and describes every /api route and the webhook route, and nothing else', () => {
    expect(doc.openapi).to.equal('3.1.0');
    const registered = registeredRoutes(svc.routers)
      .filter((r) => described(r.path))
      .map((r) => `${r.method} ${openApiPath(r.path)}`);
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops as object).map((m) => `${m} ${path}`));
    expect(registered.length).to.be.greaterThan(20);
    expect([...new Set(documented)].sort()).to.deep.equal([...new Set(registered)].sort());
  });

  it("every operation has a summary and answers, every /api one the bearer scheme and 401; schemas compile", () => {
    for (const [path, ops] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        expect(op.summary, `${method} ${path}`).to.be.a('string').that.is.not.empty;
        if (path !== '/api/openapi.json' && path.startsWith('/api/')) {
          expect(op.security, `${method} ${path}`).to.deep.equal([{ bearer: [] }]);
          expect(op.responses['401'].content['application/json'].schema).to.deep.equal({ $ref: '#/components/schemas/Error' });
        }
        for (const [status] of Object.entries<any>(op.responses)) validatorFor(path, method, Number(status));
      }
    }
  });

  function validatorFor(path: string, method: string, status: number): ValidateFunction | null {
    const response = doc.paths[path]?.[method]?.responses?.[String(status)];
    if (!response) throw new Error(`the document has no ${status} answer for ${method.toUpperCase()} ${path}`);
    const schema = response.content?.['application/json']?.schema;
    if (!schema) return null;
    const key = `${method} ${path} ${status}`;
    if (!validators.has(key)) {
      const resolved = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi.json#/components/'));
      validators.set(key, ajv.compile(resolved));
    }
    return validators.get(key)!;
  }

  /** Makes a real call; its answer must be one the document lists for the route, in the shape it gives. */
  async function call(method: string, template: string, opts: { params?: Record<string, unknown>; body?: unknown; query?: string } = {}) {
    const path = template.replace(/\{(\w+)\}/g, (_, name) => String(opts.params?.[name]));
    const res = await svc.api(method.toUpperCase(), `${path}${opts.query ? `?${opts.query}` : ''}`, opts.body);
    const validate = validatorFor(template, method, res.status);
    if (validate && !validate(res.body)) {
      throw new Error(`${method.toUpperCase()} ${path} → ${res.status} does not match the document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(res.body)}`);
    }
    checked.add(`${method} ${template} ${res.status}`);
    return res;
  }

  it('real answers of every route, successes and errors, match the document', async () => {
    const project = (await call('post', '/api/projects', { body: { name: 'Web', repo: 'acme/webapp', argocdApplication: 'web-staging' } })).body;
    expect(project.webhook.id).to.be.a('number');
    await call('post', '/api/projects', { body: { name: 'Web', repo: 'acme/webapp' } }); // 409
    await call('post', '/api/projects', { body: { repo: 'nope' } }); // 400
    await call('post', '/api/projects/{id}/webhook', { params: { id: project.id } });
    await call('get', '/api/projects');
    await call('get', '/api/projects/{id}', { params: { id: project.id } });
    await call('get', '/api/projects/{id}', { params: { id: 999999 } }); // 404

    const t = (await call('post', '/api/tasks', { body: { projectId: project.id, title: 'Add login' } })).body;
    await call('get', '/api/tasks', { query: `projectId=${project.id}&state=backlog` });
    await call('get', '/api/tasks', { query: 'limit=0' }); // 400
    await call('patch', '/api/tasks/{id}', { params: { id: t.id }, body: { description: 'With a form' } });
    await call('patch', '/api/tasks/{id}', { params: { id: t.id }, body: { state: 'production' } }); // 409
    await moveTask(svc, t.id, 'in_progress', 'needs_input');
    await call('post', '/api/tasks/{id}/respond', { params: { id: t.id }, body: { response: 'Use OAuth.' } });
    await call('get', '/api/tasks/{id}', { params: { id: t.id } });
    await call('get', '/api/tasks/{id}/events', { params: { id: t.id } });

    const approved = await createTask(svc, project.id, 'Approved one');
    await moveTask(svc, approved.id, 'in_progress', 'approved');
    await call('post', '/api/merge', { body: { taskIds: [approved.id] } });
    await call('post', '/api/merge', { body: { taskIds: [t.id] } }); // 409
    await call('post', '/api/projects/{id}/promote', { params: { id: project.id } });
    await call('get', '/api/projects/{id}/merges', { params: { id: project.id } });

    const agent = (await call('post', '/api/agents', { body: { name: 'claude-1' } })).body;
    await call('get', '/api/agents');
    await call('delete', '/api/agents/{id}', { params: { id: agent.id } });

    const delivery = giteaDelivery('push.staging');
    const ingest = await fetch(`${svc.url}/webhooks/gitea`, { method: 'POST', headers: delivery.headers, body: delivery.body });
    const ingestAnswer = await ingest.json();
    expect(validatorFor('/webhooks/gitea', 'post', ingest.status)!(ingestAnswer), JSON.stringify(ingestAnswer)).to.equal(true);
    const unsigned = await fetch(`${svc.url}/webhooks/gitea`, { method: 'POST', headers: { ...delivery.headers, 'X-Gitea-Signature': '', 'X-Hub-Signature-256': '' }, body: delivery.body });
    expect(validatorFor('/webhooks/gitea', 'post', unsigned.status)!(await unsigned.json())).to.equal(true);
    await svc.settled(delivery.id);
    await call('get', '/api/webhooks/deliveries', { query: 'status=processed' });
    await call('post', '/api/webhooks/deliveries/{id}/replay', { params: { id: delivery.id } });
    await call('post', '/api/webhooks/deliveries/{id}/replay', { params: { id: 'no-such-delivery' } }); // 404

    // The push to staging queued its (dry-run) sync: it is recorded as a deployment.
    const deployments = await eventually(async () => {
      const listed = (await call('get', '/api/deployments', { query: `projectId=${project.id}` })).body.deployments;
      return listed.length ? listed : null;
    }, 20_000, 'the staging sync to be recorded');
    await call('get', '/api/deployments/{id}', { params: { id: deployments[0].id } });
    await call('get', '/api/deployments/{id}', { params: { id: 999999 } }); // 404
    await call('get', '/api/openapi.json');

    const unauthorized = await fetch(`${svc.url}/api/tasks`, { headers: { authorization: `Bearer not-${TEST_API_TOKEN}` } });
    expect(validatorFor('/api/tasks', 'get', unauthorized.status)!(await unauthorized.json())).to.equal(true);
  });

  it("GET /api/me with a person's session answers as documented", async () => {
    const consoleSvc = await startConsoleService(gitea);
    try {
      const alice = await signIn(consoleSvc.url, gitea, 'alice');
      const res = await fetch(`${consoleSvc.url}/api/me`, { headers: { cookie: alice.cookie } });
      const validate = validatorFor('/api/me', 'get', res.status)!;
      expect(validate(await res.json()), ajv.errorsText(validate.errors)).to.equal(true);
      checked.add(`get /api/me ${res.status}`);
      const withToken = await svc.api('GET', '/api/me');
      expect(validatorFor('/api/me', 'get', withToken.status)!(withToken.body)).to.equal(true);
    } finally {
      await consoleSvc.cleanup();
    }
  });

  it('every documented operation was answered with success at least once above', () => {
    for (const [path, ops] of Object.entries<any>(doc.paths)) {
      for (const method of Object.keys(ops)) {
        if (path === '/webhooks/gitea') continue; // checked by hand above: it is not an API-token call
        const ok = [...checked].some((c) => c.startsWith(`${method} ${path} 2`));
        expect(ok, `${method.toUpperCase()} ${path} was not exercised with a successful answer`).to.equal(true);
      }
    }
  });
});
