import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
// js-yaml rather than @kubernetes/client-node's loadAllYaml: that one maps documents onto its model
// classes and silently drops unknown fields, which would hide exactly the typos this test is for.
import { load, loadAll } from 'js-yaml';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { SETTING_NAMES, loadConfig } from '../../src/config.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEPLOY = join(ROOT, 'deploy');
const BASE = join(DEPLOY, 'kustomize', 'base');
const OVERLAY = join(DEPLOY, 'kustomize', 'overlays', 'example');
const SECRET_TEMPLATE = join(BASE, 'secret.example.yaml');

/** Settings that are secrets: they belong in the Secret, never in the ConfigMap or a plain env value. */
const SECRET_SETTINGS = ['API_TOKEN', 'FEED_TOKEN', 'GITEA_TOKEN', 'GITEA_WEBHOOK_SECRET', 'DATABASE_URL', 'AIWORKER_AGENT_TOKEN', 'GITEA_OAUTH_CLIENT_SECRET'];
/** What each workload must run; a new workload has to be added here, with its command. */
const WORKLOAD_COMMANDS: Record<string, string> = {
  'Deployment/aiworker-web': 'serve',
  'Deployment/aiworker-worker': 'worker',
  'Job/aiworker-migrate': 'migrate',
};

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'networking.k8s.io/v1/Ingress': Ingress,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};
const CLUSTER_SCOPED = new Set(['ClusterRole', 'ClusterRoleBinding', 'Namespace']);

const rel = (path: string) => relative(ROOT, path);
const isKustomization = (doc: any) => typeof doc?.apiVersion === 'string' && doc.apiVersion.startsWith('kustomize.config.k8s.io/');
const id = (o: any) => `${o.kind}/${o.metadata.name}`;

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

function loadDocs(file: string): any[] {
  return loadAll(readFileSync(file, 'utf8')).filter((d) => d !== null && d !== undefined);
}

function validate(object: any): void {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!Model) throw new Error(`${id(object)}: no schema for ${object.apiVersion} ${object.kind} (add its kubernetes-models class)`);
  new Model(object).validate();
}

// ---------------------------------------------------------------------------------------------
// A small kustomize: exactly the features the manifests use, strictly (an unknown field, a patch
// target that matches nothing or an image no container uses is an error, where kustomize would
// shrug). Generated ConfigMaps keep their plain names (kustomize adds a content hash).

function readKustomization(dir: string): any {
  const file = join(dir, 'kustomization.yaml');
  if (!existsSync(file)) throw new Error(`${rel(dir)} has no kustomization.yaml`);
  return load(readFileSync(file, 'utf8'));
}

const KUSTOMIZATION_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'components', 'images', 'configMapGenerator', 'patches']);

function render(dir: string): any[] {
  const k = readKustomization(dir);
  for (const key of Object.keys(k)) {
    if (!KUSTOMIZATION_FIELDS.has(key)) throw new Error(`${rel(dir)}/kustomization.yaml: "${key}" is not understood by this test`);
  }
  const objects: any[] = [];
  const include = (entry: string, expectedKind: 'Kustomization' | 'Component') => {
    const path = resolve(dir, entry);
    if (!existsSync(path)) throw new Error(`${rel(dir)}/kustomization.yaml: ${entry} does not exist`);
    if (!statSync(path).isDirectory()) {
      if (expectedKind === 'Component') throw new Error(`${rel(dir)}/kustomization.yaml: component ${entry} is not a directory`);
      objects.push(...loadDocs(path));
      return;
    }
    const kind = readKustomization(path).kind;
    if (kind !== expectedKind) throw new Error(`${rel(dir)}/kustomization.yaml: ${entry} is a ${kind}, not a ${expectedKind}`);
    objects.push(...render(path));
  };
  for (const entry of k.resources ?? []) include(entry, 'Kustomization');
  for (const entry of k.components ?? []) include(entry, 'Component');
  for (const generator of k.configMapGenerator ?? []) generateConfigMap(dir, generator, objects);
  for (const image of k.images ?? []) setImage(image, objects);
  for (const patch of k.patches ?? []) applyPatch(patch, objects);
  return objects;
}

function parseEnvFile(file: string): Record<string, string> {
  const data: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n').map((l) => l.trim())) {
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 1) throw new Error(`${rel(file)}: "${line}" is not KEY=value`);
    data[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return data;
}

function generateConfigMap(dir: string, generator: any, objects: any[]): void {
  const { name, namespace, envs = [], literals = [], behavior = 'create', options = {}, ...rest } = generator;
  const { annotations, ...otherOptions } = options;
  if (Object.keys(rest).length || Object.keys(otherOptions).length) {
    throw new Error(`configMapGenerator ${name}: ${[...Object.keys(rest), ...Object.keys(otherOptions)].join(', ')} not understood by this test`);
  }
  const data: Record<string, string> = {};
  for (const file of envs) Object.assign(data, parseEnvFile(resolve(dir, file)));
  for (const literal of literals as string[]) {
    const eq = literal.indexOf('=');
    if (eq < 1) throw new Error(`configMapGenerator ${name}: "${literal}" is not KEY=value`);
    data[literal.slice(0, eq)] = literal.slice(eq + 1);
  }
  const existing = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name && o.metadata.namespace === namespace);
  if (behavior === 'create') {
    if (existing) throw new Error(`configMapGenerator ${name}: already generated; use behavior merge or replace`);
    objects.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, ...(annotations ? { annotations } : {}) }, data });
    return;
  }
  if (!existing) throw new Error(`configMapGenerator ${name} (behavior ${behavior}): no such ConfigMap in the resources`);
  existing.data = behavior === 'merge' ? { ...existing.data, ...data } : data;
}

/** `registry:5000/app:tag` → `registry:5000/app`: a tag follows the last colon after the last slash. */
function imageName(image: string): string {
  const withoutDigest = image.split('@')[0]!;
  const colon = withoutDigest.lastIndexOf(':');
  return colon > withoutDigest.lastIndexOf('/') ? withoutDigest.slice(0, colon) : withoutDigest;
}

const podSpec = (o: any) => (o.kind === 'Deployment' || o.kind === 'Job' ? o.spec.template.spec : null);
const containersOf = (objects: any[]) => objects.flatMap((o) => podSpec(o)?.containers ?? []);

function setImage(image: any, objects: any[]): void {
  const users = containersOf(objects).filter((c) => imageName(c.image) === image.name);
  if (!users.length) throw new Error(`images: no container uses ${image.name}`);
  for (const c of users) {
    const tagOrDigest = image.newTag ? `:${image.newTag}` : c.image.slice(imageName(c.image).length);
    c.image = `${image.newName ?? image.name}${tagOrDigest}`;
  }
}

function matchesTarget(o: any, target: any): boolean {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  return (
    o.kind === target.kind &&
    o.metadata.name === target.name &&
    (target.group === undefined || target.group === group) &&
    (target.version === undefined || target.version === version) &&
    (target.namespace === undefined || target.namespace === o.metadata.namespace)
  );
}

function applyPatch(patch: any, objects: any[]): void {
  const { target, patch: text, ...rest } = patch;
  if (!target || typeof text !== 'string' || Object.keys(rest).length) {
    throw new Error('patches: only JSON 6902 operations given inline (`patch`) with a `target` are understood by this test');
  }
  const targets = objects.filter((o) => matchesTarget(o, target));
  if (targets.length !== 1) throw new Error(`patch target ${JSON.stringify(target)} matches ${targets.length} objects`);
  const operations = load(text);
  if (!Array.isArray(operations)) throw new Error(`patch for ${JSON.stringify(target)} is not a list of JSON 6902 operations`);
  for (const operation of operations) applyOperation(targets[0], operation);
}

function applyOperation(doc: any, operation: any): void {
  const { op, path, value } = operation;
  if (typeof path !== 'string' || !path.startsWith('/')) throw new Error(`JSON patch path ${path} must start with /`);
  const keys = path.slice(1).split('/').map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = keys.pop()!;
  let parent = doc;
  for (const key of keys) {
    parent = parent !== null && typeof parent === 'object' && Object.hasOwn(parent, key) ? parent[key] : undefined;
    if (parent === undefined) throw new Error(`JSON patch ${op} ${path}: ${key} does not exist`);
  }
  if (parent === null || typeof parent !== 'object') throw new Error(`JSON patch ${op} ${path}: parent is not an object or a list`);
  const exists = Object.hasOwn(parent, last);
  switch (op) {
    case 'add':
      if (Array.isArray(parent)) parent.splice(last === '-' ? parent.length : Number(last), 0, structuredClone(value));
      else parent[last] = structuredClone(value);
      return;
    case 'replace':
      if (!exists) throw new Error(`JSON patch replace ${path}: nothing to replace`);
      parent[last] = structuredClone(value);
      return;
    case 'remove':
      if (!exists) throw new Error(`JSON patch remove ${path}: nothing to remove`);
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
      return;
    default:
      throw new Error(`JSON patch op ${op} is not understood by this test`);
  }
}

// ---------------------------------------------------------------------------------------------
// What the checks read from a rendered set of objects.

const secretTemplate = () => loadDocs(SECRET_TEMPLATE)[0];

/** The environment a container gets: envFrom in order (later wins), then `env`. */
function containerEnv(objects: any[], container: any): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) {
      const map = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === from.configMapRef.name);
      if (!map) throw new Error(`envFrom: no ConfigMap ${from.configMapRef.name}`);
      Object.assign(env, map.data);
    } else if (from.secretRef) {
      // The Secret is created out of band; its template stands in for it.
      const secret = secretTemplate();
      if (secret.metadata.name !== from.secretRef.name) throw new Error(`envFrom: the Secret template is ${secret.metadata.name}, not ${from.secretRef.name}`);
      Object.assign(env, secret.stringData);
    }
  }
  for (const e of container.env ?? []) env[e.name] = e.value;
  return env;
}

/** Every environment variable name the objects set, wherever they set it. */
function settingNames(objects: any[]): string[] {
  const names = new Set<string>(Object.keys(secretTemplate().stringData));
  for (const o of objects) {
    if (o.kind === 'ConfigMap') Object.keys(o.data ?? {}).forEach((n) => names.add(n));
    for (const c of podSpec(o)?.containers ?? []) (c.env ?? []).forEach((e: any) => names.add(e.name));
  }
  return [...names];
}

const unknownSettings = (objects: any[]) => settingNames(objects).filter((n) => !(SETTING_NAMES as string[]).includes(n));

function preStopSeconds(container: any): number {
  const preStop = container.lifecycle?.preStop;
  if (!preStop) return 0;
  if (preStop.sleep) return Number(preStop.sleep.seconds);
  const [cmd, seconds, ...rest] = preStop.exec?.command ?? [];
  if (cmd !== 'sleep' || rest.length || !/^\d+$/.test(String(seconds))) throw new Error(`preStop must be a sleep, not ${JSON.stringify(preStop)}`);
  return Number(seconds);
}

/** Whether an Ingress path rule sends `path` to its backend (Kubernetes' Exact and Prefix rules). */
function routes(rule: any, path: string): boolean {
  if (rule.pathType === 'Exact') return path === rule.path;
  const prefix = rule.path.replace(/\/+$/, '');
  return prefix === '' || path === prefix || path.startsWith(`${prefix}/`);
}

/** The commands src/cli.ts dispatches; it starts on import, so its source is read instead. */
const CLI_COMMANDS = [...readFileSync(join(ROOT, 'src', 'cli.ts'), 'utf8').matchAll(/case '([a-z]+)':/g)].map((m) => m[1]!);
const workloads = (objects: any[]) => objects.filter((o) => podSpec(o));
const find = (objects: any[], kind: string, name: string) => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind}/${name}`);
  return found;
};
const subsetOf = (small: Record<string, string>, big: Record<string, string>) => Object.entries(small).every(([k, v]) => big[k] === v);

// ---------------------------------------------------------------------------------------------

describe('deploy/ manifests', () => {
  const files = yamlFiles(DEPLOY);

  it('finds the rbac file, the base, the overlay and the secret template', () => {
    expect(files.map(rel)).to.include.members([
      'deploy/rbac.yaml',
      'deploy/kustomize/base/kustomization.yaml',
      'deploy/kustomize/base/secret.example.yaml',
      'deploy/kustomize/overlays/example/kustomization.yaml',
      'deploy/kustomize/components/migrate-job/kustomization.yaml',
    ]);
  });

  it('holds only schema-valid Kubernetes objects, each with a name and (when namespaced) a namespace', () => {
    let validated = 0;
    for (const file of files) {
      for (const doc of loadDocs(file)) {
        if (isKustomization(doc)) continue;
        expect(() => validate(doc), rel(file)).to.not.throw();
        expect(doc.metadata?.name, `${rel(file)} ${doc.kind}`).to.be.a('string').and.not.be.empty;
        if (!CLUSTER_SCOPED.has(doc.kind)) expect(doc.metadata.namespace, `${rel(file)} ${id(doc)}`).to.be.a('string').and.not.be.empty;
        validated++;
      }
    }
    expect(validated).to.be.greaterThan(10);
  });

  it('uses a schema validator that rejects broken objects and unknown kinds', () => {
    const web = find(render(BASE), 'Deployment', 'aiworker-web');
    web.spec.template.spec.containers[0].ports[0].containerPort = 'three thousand';
    expect(() => validate(web)).to.throw();
    expect(() => validate({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })).to.throw(/no schema/);
  });

  it('keeps the kustomize base RBAC identical to deploy/rbac.yaml (test/k8s-cluster.test.ts checks its rules)', () => {
    expect(loadDocs(join(BASE, 'rbac.yaml'))).to.deep.equal(loadDocs(join(DEPLOY, 'rbac.yaml')));
  });

  describe('kustomizations', () => {
    const kustomizationDirs = files.filter((f) => basename(f) === 'kustomization.yaml').map(dirname);

    it('list only files and directories that exist', () => {
      expect(kustomizationDirs).to.have.length.of.at.least(3);
      for (const dir of kustomizationDirs) {
        const k = readKustomization(dir);
        expect(k.kind, rel(dir)).to.be.oneOf(['Kustomization', 'Component']);
        const listed = [...(k.resources ?? []), ...(k.components ?? []), ...(k.configMapGenerator ?? []).flatMap((g: any) => g.envs ?? [])];
        for (const entry of listed) expect(existsSync(resolve(dir, entry)), `${rel(dir)}: ${entry}`).to.equal(true);
      }
    });

    it('list every manifest next to them (templates end in .example.yaml and are left out on purpose)', () => {
      for (const dir of kustomizationDirs) {
        const listed: string[] = readKustomization(dir).resources ?? [];
        const manifests = readdirSync(dir).filter((n) => /\.ya?ml$/.test(n) && n !== 'kustomization.yaml' && !n.endsWith('.example.yaml'));
        expect(listed, rel(dir)).to.include.members(manifests);
      }
    });

    it('give every object in the base its namespace explicitly (a `namespace:` field would move the argocd Role)', () => {
      expect(readKustomization(BASE)).to.not.have.property('namespace');
      const namespaces = render(BASE)
        .filter((o) => !CLUSTER_SCOPED.has(o.kind))
        .map((o) => `${id(o)} ${o.metadata.namespace}`);
      expect(namespaces.filter((n) => !n.endsWith(' aiworker'))).to.deep.equal(['Role/aiworker-argocd-sync argocd', 'RoleBinding/aiworker-argocd-sync argocd']);
    });

    it('render the example overlay with its image, domains and patched objects', () => {
      const objects = render(OVERLAY);
      for (const c of containersOf(objects)) expect(c.image).to.equal('registry.example.org/platform/aiworker:1.4.2');
      const ingress = find(objects, 'Ingress', 'aiworker');
      expect(ingress.spec.rules[0].host).to.equal('aiworker.acme.dev');
      expect(ingress.spec.tls[0].hosts).to.deep.equal(['aiworker.acme.dev']);
      expect(find(objects, 'ConfigMap', 'aiworker-config').data).to.include({ PUBLIC_URL: 'https://aiworker.acme.dev', PREVIEW_DOMAIN: 'preview.acme.dev', PORT: '3000' });
      expect(find(objects, 'HorizontalPodAutoscaler', 'aiworker-worker').spec.maxReplicas).to.equal(10);
      expect(workloads(objects).map(id)).to.have.members(Object.keys(WORKLOAD_COMMANDS));
      objects.forEach(validate);
    });

    describe('refuse what kustomize would refuse or silently ignore', () => {
      let dir: string;
      beforeEach(() => {
        dir = mkdtempSync(join(tmpdir(), 'aiworker-kustomize-'));
      });
      afterEach(() => rmSync(dir, { recursive: true, force: true }));

      const overlay = (body: object) => {
        writeFileSync(join(dir, 'kustomization.yaml'), JSON.stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: [BASE], ...body }));
        return () => render(dir);
      };
      const replaceHost = (target: object, path = '/spec/rules/0/host') => ({ patches: [{ target, patch: `- op: replace\n  path: ${path}\n  value: x.example.org` }] });

      it('a missing resource', () => {
        expect(overlay({ resources: [BASE, 'nope.yaml'] })).to.throw(/nope\.yaml does not exist/);
      });

      it('a patch whose target does not exist', () => {
        expect(overlay(replaceHost({ kind: 'Ingress', name: 'aiworker-typo' }))).to.throw(/matches 0 objects/);
        expect(overlay(replaceHost({ group: 'extensions', kind: 'Ingress', name: 'aiworker' }))).to.throw(/matches 0 objects/);
      });

      it('a patch path that does not resolve in its target', () => {
        expect(overlay(replaceHost({ kind: 'Ingress', name: 'aiworker' }, '/spec/rules/3/host'))).to.throw(/3 does not exist/);
        expect(overlay(replaceHost({ kind: 'Ingress', name: 'aiworker' }, '/spec/rules/0/hostname'))).to.throw(/nothing to replace/);
      });

      it('an image no container uses, a merge into a ConfigMap that is not generated, fields it does not know', () => {
        expect(overlay({ images: [{ name: 'aiworkr', newTag: '1' }] })).to.throw(/no container uses aiworkr/);
        expect(overlay({ configMapGenerator: [{ name: 'other', namespace: 'aiworker', behavior: 'merge', literals: ['LOG_LEVEL=debug'] }] })).to.throw(/no such ConfigMap/);
        expect(overlay({ namespace: 'elsewhere' })).to.throw(/"namespace" is not understood/);
      });
    });

    it('render the same objects as kustomize itself (`kubectl kustomize`, when kubectl is installed)', function () {
      if (spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status !== 0) this.skip();
      for (const dir of [BASE, OVERLAY]) {
        let output = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 20_000 });
        // Generated ConfigMaps carry a content hash in their name and in every reference to them.
        for (const [hashed, plain] of output.matchAll(/\b(aiworker-config)-[a-z0-9]{10}\b/g)) output = output.replaceAll(hashed, plain!);
        const byId = (objects: any[]) => Object.fromEntries(objects.map((o) => [`${id(o)} ${o.metadata.namespace ?? ''}`, o]));
        expect(byId(loadAll(output) as any[]), rel(dir)).to.deep.equal(byId(render(dir)));
      }
    });
  });

  for (const [label, dir] of [
    ['base', BASE],
    ['example overlay', OVERLAY],
  ] as const) {
    describe(`the ${label}, rendered`, () => {
      let objects: any[];
      before(() => {
        objects = render(dir);
      });

      it('sets only environment variables that are settings of src/config.ts', () => {
        expect(settingNames(objects)).to.include.members(['PORT', 'DATABASE_URL', 'SHUTDOWN_GRACE_SECONDS']);
        expect(unknownSettings(objects)).to.deep.equal([]);
      });

      it('keeps secrets in the Secret only, and the Secret holds the secrets', () => {
        for (const o of objects) {
          if (o.kind === 'ConfigMap') expect(Object.keys(o.data).filter((k) => SECRET_SETTINGS.includes(k)), id(o)).to.deep.equal([]);
          for (const c of podSpec(o)?.containers ?? []) {
            for (const e of c.env ?? []) expect(SECRET_SETTINGS, `${id(o)} env ${e.name}`).to.not.include(e.name);
          }
        }
        expect(Object.keys(secretTemplate().stringData)).to.have.members(['API_TOKEN', 'FEED_TOKEN', 'GITEA_TOKEN', 'GITEA_WEBHOOK_SECRET', 'DATABASE_URL', 'GITEA_OAUTH_CLIENT_ID', 'GITEA_OAUTH_CLIENT_SECRET']);
      });

      it('gives every container settings that load (ConfigMap, then Secret, then env)', () => {
        for (const w of workloads(objects)) {
          const [container] = podSpec(w).containers;
          expect(container.envFrom.map((f: any) => f.configMapRef?.name ?? f.secretRef?.name), id(w)).to.deep.equal(['aiworker-config', 'aiworker-secrets']);
          const env = containerEnv(objects, container);
          expect(env, id(w)).to.not.have.property('ROLE');
          expect(() => loadConfig(env), id(w)).to.not.throw();
          expect(loadConfig(env).kube?.inCluster, id(w)).to.equal(true);
        }
      });

      it('runs each workload with a valid CLI command and the image entrypoint', () => {
        expect(CLI_COMMANDS).to.include.members(['serve', 'worker', 'migrate']);
        for (const w of workloads(objects)) {
          const containers = podSpec(w).containers;
          expect(containers, id(w)).to.have.length(1);
          expect(containers[0], id(w)).to.not.have.property('command');
          expect(containers[0].args, id(w)).to.deep.equal([WORKLOAD_COMMANDS[id(w)]]);
          expect(CLI_COMMANDS).to.include(containers[0].args[0]);
        }
      });

      it('probes both roles on /healthz and /readyz at the port aiworker listens on', () => {
        const [web] = podSpec(find(objects, 'Deployment', 'aiworker-web')).containers;
        const port = loadConfig(containerEnv(objects, web)).port;
        expect(web.ports).to.deep.equal([{ name: 'http', containerPort: port, protocol: 'TCP' }]);
        expect(web.livenessProbe.httpGet).to.deep.equal({ path: '/healthz', port: 'http' });
        expect(web.startupProbe.httpGet).to.deep.equal({ path: '/healthz', port: 'http' });
        expect(web.readinessProbe.httpGet).to.deep.equal({ path: '/readyz', port: 'http' });
        const [worker] = podSpec(find(objects, 'Deployment', 'aiworker-worker')).containers;
        expect(worker.ports).to.deep.equal([{ name: 'http', containerPort: loadConfig(containerEnv(objects, worker)).port, protocol: 'TCP' }]);
        expect(worker.livenessProbe.httpGet).to.deep.equal({ path: '/healthz', port: 'http' });
        expect(worker.readinessProbe.httpGet).to.deep.equal({ path: '/readyz', port: 'http' });
      });

      it('runs as non-root with a read-only root filesystem, no privilege escalation, no capabilities and bounded resources', () => {
        for (const w of workloads(objects)) {
          const spec = podSpec(w);
          expect(spec.securityContext.runAsNonRoot, id(w)).to.equal(true);
          expect(spec.securityContext.runAsUser, id(w)).to.be.a('number').greaterThan(0);
          for (const c of spec.containers) {
            expect(c.securityContext, id(w)).to.deep.include({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
            expect(c.securityContext.capabilities.drop, id(w)).to.deep.equal(['ALL']);
            for (const bound of ['requests', 'limits']) expect(c.resources[bound], `${id(w)} ${bound}`).to.have.all.keys('cpu', 'memory');
          }
        }
      });

      it('leaves time for the preStop sleep and the graceful shutdown before the kubelet kills a pod', () => {
        for (const w of objects.filter((o) => o.kind === 'Deployment')) {
          const spec = podSpec(w);
          const [container] = spec.containers;
          const graceSeconds = loadConfig(containerEnv(objects, container)).shutdownGraceMs / 1000;
          expect(spec.terminationGracePeriodSeconds, id(w)).to.be.greaterThan(preStopSeconds(container) + graceSeconds);
        }
        const [web] = podSpec(find(objects, 'Deployment', 'aiworker-web')).containers;
        expect(preStopSeconds(web), 'web drains before SIGTERM').to.be.greaterThan(0);
      });

      it('scales both Deployments by CPU without pinning their replicas, and keeps a web replica through drains', () => {
        for (const name of ['aiworker-web', 'aiworker-worker']) {
          const deployment = find(objects, 'Deployment', name);
          expect(deployment.spec, name).to.not.have.property('replicas');
          expect(subsetOf(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels), name).to.equal(true);
          const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler' && o.spec.scaleTargetRef.name === name);
          expect(hpa?.spec.scaleTargetRef, name).to.deep.equal({ apiVersion: 'apps/v1', kind: 'Deployment', name });
          expect(hpa.spec.metrics.map((m: any) => m.resource?.name), name).to.include('cpu');
        }
        const webLabels = find(objects, 'Deployment', 'aiworker-web').spec.template.metadata.labels;
        const pdb = find(objects, 'PodDisruptionBudget', 'aiworker-web');
        expect(subsetOf(pdb.spec.selector.matchLabels, webLabels)).to.equal(true);
        expect(find(objects, 'HorizontalPodAutoscaler', 'aiworker-web').spec.minReplicas).to.be.greaterThan(pdb.spec.maxUnavailable);
      });

      it('routes the Ingress to the web pods for webhooks, REST, MCP, the feed and the dashboard, but not metrics or health', () => {
        const web = find(objects, 'Deployment', 'aiworker-web');
        const service = find(objects, 'Service', 'aiworker-web');
        expect(subsetOf(service.spec.selector, web.spec.template.metadata.labels)).to.equal(true);
        const containerPorts = web.spec.template.spec.containers[0].ports.map((p: any) => p.name);
        for (const p of service.spec.ports) expect(containerPorts).to.include(p.targetPort);

        const ingress = find(objects, 'Ingress', 'aiworker');
        const [rule] = ingress.spec.rules;
        for (const path of rule.http.paths) {
          expect(path.backend.service.name).to.equal(service.metadata.name);
          expect(service.spec.ports.map((p: any) => p.name)).to.include(path.backend.service.port.name);
        }
        const routed = (path: string) => rule.http.paths.some((p: any) => routes(p, path));
        for (const path of ['/webhooks/gitea', '/api/tasks', '/mcp', '/socket.io/', '/', '/dashboard/dashboard.js', '/auth/login', '/auth/callback']) expect(routed(path), path).to.equal(true);
        for (const path of ['/metrics', '/healthz', '/readyz']) expect(routed(path), path).to.equal(false);

        const publicUrl = loadConfig(containerEnv(objects, web.spec.template.spec.containers[0])).publicUrl;
        expect(ingress.spec.tls[0].hosts).to.deep.equal([rule.host]);
        expect(publicUrl && new URL(publicUrl).host).to.equal(rule.host);
      });

      it('runs the Deployments as the ServiceAccount the RBAC binds', () => {
        const account = objects.find((o) => o.kind === 'ServiceAccount');
        const bound = objects.filter((o) => o.kind.endsWith('Binding')).flatMap((b) => b.subjects);
        expect(bound).to.deep.include({ kind: 'ServiceAccount', name: account.metadata.name, namespace: account.metadata.namespace });
        for (const w of objects.filter((o) => o.kind === 'Deployment')) {
          expect(podSpec(w).serviceAccountName, id(w)).to.equal(account.metadata.name);
          expect(w.metadata.namespace, id(w)).to.equal(account.metadata.namespace);
        }
      });
    });
  }

  it('finds an environment variable that is not a setting', () => {
    const objects = render(BASE);
    podSpec(find(objects, 'Deployment', 'aiworker-worker')).containers[0].env.push({ name: 'SHUTDOWN_GRACE', value: '60' });
    find(objects, 'ConfigMap', 'aiworker-config').data.NODE_OPTIONS = '--max-old-space-size=400';
    expect(unknownSettings(objects)).to.have.members(['SHUTDOWN_GRACE', 'NODE_OPTIONS']);
  });

  it('reads a preStop hook only when it is a plain sleep', () => {
    expect(preStopSeconds({})).to.equal(0);
    expect(preStopSeconds({ lifecycle: { preStop: { exec: { command: ['sleep', '7'] } } } })).to.equal(7);
    expect(preStopSeconds({ lifecycle: { preStop: { sleep: { seconds: 4 } } } })).to.equal(4);
    expect(() => preStopSeconds({ lifecycle: { preStop: { exec: { command: ['sh', '-c', 'sleep 5'] } } } })).to.throw(/must be a sleep/);
  });
});
