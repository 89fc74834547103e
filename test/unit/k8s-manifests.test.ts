import { expect } from 'chai';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import {
  previewHost,
  previewImage,
  previewNamespaceName,
  renderPreview,
  type KubeObject,
  type PreviewInput,
} from '../../src/k8s/manifests.js';

const SHA = '3f786850e387550fdab836ed7e6dc881de23001b';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function input(overrides: Partial<PreviewInput> = {}): PreviewInput {
  return {
    projectId: 7,
    projectName: 'Shop Frontend',
    taskId: 42,
    headSha: SHA,
    previewDomain: 'preview.example.com',
    expiresAt: new Date('2030-01-02T03:04:05.000Z'),
    settings: { image: 'registry.example.com:5000/team/shop' },
    ...overrides,
  };
}

function validate(object: KubeObject): void {
  // Round-trip through JSON so the models see exactly what goes over the wire.
  const data = JSON.parse(JSON.stringify(object));
  switch (object.kind) {
    case 'Namespace':
      return new Namespace(data).validate();
    case 'Deployment':
      return new Deployment(data).validate();
    case 'Service':
      return new Service(data).validate();
    case 'Ingress':
      return new Ingress(data).validate();
    default:
      throw new Error(`unexpected kind ${object.kind}`);
  }
}

function byKind(objects: KubeObject[], kind: string): any {
  const found = objects.find((o) => o.kind === kind);
  if (!found) throw new Error(`no ${kind}`);
  return found;
}

const awkwardIds: Array<[string, number | string]> = [
  ['1', 1],
  ['42', 42],
  ['max safe integer', Number.MAX_SAFE_INTEGER],
  ['1e21 (exponent notation)', 1e21],
  ['1e80 (more digits than a label holds)', 1e80],
  ['mixed case with underscores', 'Feature_Branch__ABC'],
  ['very long string', `Task_${'x'.repeat(200)}_END`],
  ['only invalid characters', '___'],
  ['negative', -5],
];

describe('k8s manifests', () => {
  describe('previewNamespaceName', () => {
    it('is preview-task-<id> for ordinary ids', () => {
      expect(previewNamespaceName(1)).to.equal('preview-task-1');
      expect(previewNamespaceName(42)).to.equal('preview-task-42');
      expect(previewNamespaceName('42')).to.equal('preview-task-42');
    });

    for (const [label, id] of awkwardIds) {
      it(`is a valid DNS-1123 label for ${label}`, () => {
        const name = previewNamespaceName(id);
        expect(name).to.match(DNS_LABEL);
        expect(name.length).to.be.at.most(63);
        expect(name.startsWith('preview-task-')).to.equal(true);
        expect(previewNamespaceName(id)).to.equal(name);
      });
    }

    it('prints large integers in full rather than in exponent notation', () => {
      expect(previewNamespaceName(1e21)).to.equal('preview-task-1000000000000000000000');
    });

    it('lowercases and replaces invalid characters, keeping altered ids distinct with a hash', () => {
      const name = previewNamespaceName('Feature_Branch');
      expect(name).to.match(/^preview-task-feature-branch-[0-9a-f]{8}$/);
      expect(name).to.not.equal(previewNamespaceName('feature-branch'));
      expect(previewNamespaceName('feature-branch')).to.equal('preview-task-feature-branch');
      expect(previewNamespaceName(-5)).to.not.equal(previewNamespaceName(5));
    });

    it('truncates long ids with a hash suffix so that different ids stay distinct', () => {
      const a = previewNamespaceName('a'.repeat(100));
      const b = previewNamespaceName(`${'a'.repeat(99)}b`);
      expect(a).to.have.length(63);
      expect(a).to.match(/^preview-task-a+-[0-9a-f]{8}$/);
      expect(a).to.not.equal(b);
    });
  });

  describe('previewHost', () => {
    it('is task-<id>.<domain>', () => {
      expect(previewHost(42, 'preview.example.com')).to.equal('task-42.preview.example.com');
      expect(previewHost(42, ' Preview.Example.COM. ')).to.equal('task-42.preview.example.com');
    });

    it('keeps the first label valid for awkward ids', () => {
      for (const [, id] of awkwardIds) {
        const [first] = previewHost(id, 'example.com').split('.');
        expect(first).to.match(DNS_LABEL);
        expect(first!.length).to.be.at.most(63);
      }
    });

    it('rejects an invalid domain', () => {
      expect(() => previewHost(1, 'exa mple.com')).to.throw(/invalid preview domain/);
      expect(() => previewHost(1, '')).to.throw(/invalid preview domain/);
      expect(() => previewHost(1, '-bad.example.com')).to.throw(/invalid preview domain/);
    });
  });

  describe('previewImage', () => {
    it('tags the image with the full sha by default', () => {
      expect(previewImage({ image: 'ghcr.io/acme/app' }, SHA)).to.equal(`ghcr.io/acme/app:${SHA}`);
    });

    it('supports {shortSha} and literal text in the template', () => {
      expect(previewImage({ image: 'acme/app', tagTemplate: 'pr-{shortSha}' }, SHA)).to.equal('acme/app:pr-3f78685');
    });

    it('replaces an existing tag or digest but keeps a registry port', () => {
      expect(previewImage({ image: 'localhost:5000/app:latest' }, SHA)).to.equal(`localhost:5000/app:${SHA}`);
      expect(previewImage({ image: 'localhost:5000/app' }, SHA)).to.equal(`localhost:5000/app:${SHA}`);
      expect(previewImage({ image: 'app@sha256:' + 'a'.repeat(64) }, SHA)).to.equal(`app:${SHA}`);
    });

    it('rejects unknown placeholders, invalid tags and invalid shas', () => {
      expect(() => previewImage({ image: 'app', tagTemplate: '{branch}' }, SHA)).to.throw(/unknown placeholder \{branch\}/);
      expect(() => previewImage({ image: 'app', tagTemplate: 'a/{sha}' }, SHA)).to.throw(/invalid tag/);
      expect(() => previewImage({ image: 'app' }, 'not-a-sha')).to.throw(/invalid commit sha/);
      expect(() => previewImage({ image: '  ' }, SHA)).to.throw(/image is not set/);
    });
  });

  describe('renderPreview', () => {
    it('renders Namespace, Deployment, Service and Ingress in apply order', () => {
      expect(renderPreview(input()).map((o) => o.kind)).to.deep.equal(['Namespace', 'Deployment', 'Service', 'Ingress']);
    });

    for (const [label, id] of awkwardIds) {
      it(`renders schema-valid manifests for task id ${label}`, () => {
        const objects = renderPreview(input({ taskId: id as number }));
        for (const object of objects) {
          validate(object);
          for (const name of [object.metadata.name, object.metadata.namespace ?? object.metadata.name]) {
            expect(name).to.match(DNS_LABEL);
            expect(name.length).to.be.at.most(63);
          }
          for (const value of Object.values(object.metadata.labels ?? {})) {
            expect(value).to.match(LABEL_VALUE);
            expect(value.length).to.be.at.most(63);
          }
        }
        const deployment = byKind(objects, 'Deployment');
        for (const value of Object.values(deployment.spec.template.metadata.labels as Record<string, string>)) {
          expect(value).to.match(LABEL_VALUE);
          expect(value.length).to.be.at.most(63);
        }
      });
    }

    it('uses a schema validator that does reject broken manifests', () => {
      const broken = JSON.parse(JSON.stringify(byKind(renderPreview(input()), 'Deployment')));
      broken.spec.template.spec.containers[0].ports[0].containerPort = 'eighty';
      expect(() => validate(broken)).to.throw();
      delete broken.spec.selector;
      broken.spec.template.spec.containers[0].ports[0].containerPort = 8080;
      expect(() => validate(broken)).to.throw();
    });

    it('labels and annotates the namespace', () => {
      const ns = byKind(renderPreview(input()), 'Namespace');
      expect(ns).to.deep.equal({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: {
          name: 'preview-task-42',
          labels: {
            'app.kubernetes.io/managed-by': 'aiworker',
            'aiworker.dev/project': '7',
            'aiworker.dev/task': '42',
          },
          annotations: {
            'aiworker.dev/expires-at': '2030-01-02T03:04:05.000Z',
            'aiworker.dev/project-name': 'Shop Frontend',
          },
        },
      });
    });

    it('renders the Deployment with defaults', () => {
      const deployment = byKind(renderPreview(input()), 'Deployment');
      expect(deployment.metadata).to.include({ name: 'preview', namespace: 'preview-task-42' });
      expect(deployment.metadata.labels).to.include({
        'app.kubernetes.io/name': 'preview',
        'app.kubernetes.io/managed-by': 'aiworker',
        'aiworker.dev/project': '7',
        'aiworker.dev/task': '42',
      });
      const { spec } = deployment;
      expect(spec.replicas).to.equal(1);
      expect(spec.template.metadata.labels).to.include(spec.selector.matchLabels);
      expect(spec.template.metadata.annotations).to.deep.equal({ 'aiworker.dev/commit-sha': SHA });
      const [container] = spec.template.spec.containers;
      expect(container.image).to.equal(`registry.example.com:5000/team/shop:${SHA}`);
      expect(container.ports).to.deep.equal([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
      expect(container.readinessProbe.httpGet).to.deep.equal({ path: '/', port: 'http' });
      expect(container.livenessProbe.httpGet).to.deep.equal({ path: '/', port: 'http' });
      expect(container.resources).to.deep.equal({
        requests: { cpu: '50m', memory: '64Mi' },
        limits: { cpu: '500m', memory: '512Mi' },
      });
      expect(container).to.not.have.property('env');
    });

    it('applies project settings', () => {
      const objects = renderPreview(
        input({
          settings: {
            image: 'acme/app:old',
            tagTemplate: '{shortSha}',
            containerPort: 3000,
            replicas: 2,
            resources: { requests: { memory: '128Mi' }, limits: { cpu: '1' } },
            probePath: '/healthz',
            env: { NODE_ENV: 'production', WORKERS: 4 as unknown as string },
            ingressClassName: 'nginx',
            tlsSecretName: 'preview-wildcard-tls',
          },
        }),
      );
      objects.forEach(validate);
      const deployment = byKind(objects, 'Deployment');
      const [container] = deployment.spec.template.spec.containers;
      expect(deployment.spec.replicas).to.equal(2);
      expect(container.image).to.equal('acme/app:3f78685');
      expect(container.ports[0].containerPort).to.equal(3000);
      expect(container.readinessProbe.httpGet.path).to.equal('/healthz');
      expect(container.resources).to.deep.equal({
        requests: { cpu: '50m', memory: '128Mi' },
        limits: { cpu: '1', memory: '512Mi' },
      });
      expect(container.env).to.deep.equal([
        { name: 'NODE_ENV', value: 'production' },
        { name: 'WORKERS', value: '4' },
      ]);
      const ingress = byKind(objects, 'Ingress');
      expect(ingress.spec.ingressClassName).to.equal('nginx');
      expect(ingress.spec.tls).to.deep.equal([{ hosts: ['task-42.preview.example.com'], secretName: 'preview-wildcard-tls' }]);
    });

    it('routes the Ingress host to the Service, which targets the container port', () => {
      const objects = renderPreview(input({ settings: { image: 'app', ingressClassName: null, tlsSecretName: null } }));
      const service = byKind(objects, 'Service');
      const ingress = byKind(objects, 'Ingress');
      const deployment = byKind(objects, 'Deployment');
      expect(service.spec.selector).to.deep.equal(deployment.spec.selector.matchLabels);
      expect(service.spec.ports).to.deep.equal([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
      expect(ingress.spec).to.not.have.property('ingressClassName');
      expect(ingress.spec).to.not.have.property('tls');
      expect(ingress.spec.rules).to.deep.equal([
        {
          host: 'task-42.preview.example.com',
          http: {
            paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'preview', port: { name: 'http' } } } }],
          },
        },
      ]);
    });

    it('rejects invalid settings', () => {
      expect(() => renderPreview(input({ settings: { image: 'app', containerPort: 0 } }))).to.throw(/container port/);
      expect(() => renderPreview(input({ settings: { image: 'app', replicas: 1.5 } }))).to.throw(/replica count/);
      expect(() => renderPreview(input({ settings: { image: 'app', probePath: 'healthz' } }))).to.throw(/probe path/);
      expect(() => renderPreview(input({ expiresAt: new Date('nope') }))).to.throw(/expiry/);
    });
  });
});
