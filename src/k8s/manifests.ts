import { createHash } from 'node:crypto';

/** Minimal shape of a Kubernetes object as sent to the API server. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export interface PreviewSettings {
  image: string;
  tagTemplate?: string;
  containerPort?: number;
  replicas?: number;
  resources?: { requests?: { cpu?: string; memory?: string }; limits?: { cpu?: string; memory?: string } };
  probePath?: string;
  env?: Record<string, string>;
  ingressClassName?: string | null;
  tlsSecretName?: string | null;
}

export interface PreviewInput {
  projectId: number;
  projectName: string;
  taskId: number;
  headSha: string;
  previewDomain: string;
  expiresAt: Date;
  settings: PreviewSettings;
}

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'aiworker';
export const PROJECT_LABEL = 'aiworker.dev/project';
export const TASK_LABEL = 'aiworker.dev/task';
export const EXPIRES_AT_ANNOTATION = 'aiworker.dev/expires-at';
export const PROJECT_NAME_ANNOTATION = 'aiworker.dev/project-name';
export const COMMIT_SHA_ANNOTATION = 'aiworker.dev/commit-sha';
/** Name of the Deployment, Service and Ingress inside every preview namespace. */
export const PREVIEW_NAME = 'preview';

export const DEFAULT_TAG_TEMPLATE = '{sha}';
export const DEFAULT_CONTAINER_PORT = 8080;
export const DEFAULT_PROBE_PATH = '/';
export const DEFAULT_RESOURCES = {
  requests: { cpu: '50m', memory: '64Mi' },
  limits: { cpu: '500m', memory: '512Mi' },
} as const;

const MAX_LABEL_LENGTH = 63;
// A host name is at most 253 characters, and the domain must leave room for the task label and its dot.
const MAX_DOMAIN_LENGTH = 253 - MAX_LABEL_LENGTH - 1;
const HASH_LENGTH = 8;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const COMMIT_SHA = /^[0-9a-f]{7,64}$/;

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, HASH_LENGTH);
}

/** Integers are printed in full (String(1e21) would give "1e+21"). */
function idText(id: number | string): string {
  return typeof id === 'number' && Number.isInteger(id) ? BigInt(id).toString() : String(id);
}

/**
 * `prefix` + the id as a DNS-1123 label. A hash of the raw id is appended whenever the id had to be
 * altered (so "Task_1" and "task-1" stay distinct) and when truncation is needed to stay within 63 characters.
 */
function dnsLabel(prefix: string, raw: string): string {
  const cleaned = raw.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  const name = prefix + cleaned;
  if (cleaned === raw && name.length <= MAX_LABEL_LENGTH) return name;
  const room = MAX_LABEL_LENGTH - prefix.length - HASH_LENGTH - 1;
  const head = cleaned.slice(0, room).replace(/-+$/, '');
  return head ? `${prefix}${head}-${shortHash(raw)}` : `${prefix}${shortHash(raw)}`;
}

/** A valid label value for the id, kept verbatim when already valid (integer ids always are, up to 63 digits). */
function labelValue(id: number | string): string {
  const raw = idText(id);
  if (raw.length <= MAX_LABEL_LENGTH && LABEL_VALUE.test(raw)) return raw;
  const cleaned = raw.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  const head = cleaned.slice(0, MAX_LABEL_LENGTH - HASH_LENGTH - 1).replace(/[^A-Za-z0-9]+$/, '');
  return head ? `${head}-${shortHash(raw)}` : shortHash(raw);
}

export function previewNamespaceName(taskId: number | string): string {
  return dnsLabel('preview-task-', idText(taskId));
}

export function previewHost(taskId: number | string, previewDomain: string): string {
  const domain = previewDomain.trim().toLowerCase().replace(/^\.+|\.+$/g, '');
  const labels = domain.split('.');
  if (!domain || domain.length > MAX_DOMAIN_LENGTH || !labels.every((l) => l.length <= MAX_LABEL_LENGTH && DNS_LABEL.test(l))) {
    throw new Error(`invalid preview domain: ${JSON.stringify(previewDomain)}`);
  }
  return `${dnsLabel('task-', idText(taskId))}.${domain}`;
}

/** The image repository with any tag or digest removed; a registry port ("host:5000/app") is kept. */
function imageRepository(image: string): string {
  const withoutDigest = image.trim().split('@')[0]!;
  const colon = withoutDigest.lastIndexOf(':');
  return colon > withoutDigest.lastIndexOf('/') ? withoutDigest.slice(0, colon) : withoutDigest;
}

export function previewImage(settings: Pick<PreviewSettings, 'image' | 'tagTemplate'>, headSha: string): string {
  const sha = headSha.trim().toLowerCase();
  if (!COMMIT_SHA.test(sha)) throw new Error(`invalid commit sha: ${JSON.stringify(headSha)}`);
  const repository = imageRepository(settings.image);
  if (!repository) throw new Error('preview image is not set');
  const template = settings.tagTemplate?.trim() || DEFAULT_TAG_TEMPLATE;
  const tag = template.replace(/\{(\w*)\}/g, (placeholder, key: string) => {
    if (key === 'sha') return sha;
    if (key === 'shortSha') return sha.slice(0, 7);
    throw new Error(`unknown placeholder ${placeholder} in image tag template ${JSON.stringify(template)}`);
  });
  if (!IMAGE_TAG.test(tag)) throw new Error(`image tag template ${JSON.stringify(template)} gives invalid tag ${JSON.stringify(tag)}`);
  return `${repository}:${tag}`;
}

function integerIn(value: number, what: string, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`invalid ${what}: ${value}`);
  return value;
}

/** Namespace, Deployment, Service and Ingress of a task's preview, in the order they must be applied. */
export function renderPreview(input: PreviewInput): KubeObject[] {
  const { settings } = input;
  if (Number.isNaN(input.expiresAt.getTime())) throw new Error('invalid preview expiry date');
  const namespace = previewNamespaceName(input.taskId);
  const host = previewHost(input.taskId, input.previewDomain);
  const image = previewImage(settings, input.headSha);
  const sha = input.headSha.trim().toLowerCase();
  const port = integerIn(settings.containerPort ?? DEFAULT_CONTAINER_PORT, 'container port', 1, 65535);
  const replicas = integerIn(settings.replicas ?? 1, 'replica count', 0, 2 ** 31 - 1);
  const probePath = settings.probePath?.trim() || DEFAULT_PROBE_PATH;
  if (!probePath.startsWith('/')) throw new Error(`probe path must start with "/": ${JSON.stringify(probePath)}`);

  const ownership = {
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [PROJECT_LABEL]: labelValue(input.projectId),
    [TASK_LABEL]: labelValue(input.taskId),
  };
  // The selector is immutable on a Deployment, so it only holds labels that never change for a namespace.
  const selector = { 'app.kubernetes.io/name': PREVIEW_NAME, 'app.kubernetes.io/instance': namespace };
  const labels = { ...selector, ...ownership };
  const meta = (name: string) => ({ name, namespace, labels });

  // Settings come from stored JSON where a number can slip in; the API rejects non-string env values.
  const env = Object.entries(settings.env ?? {}).map(([name, value]) => ({ name, value: String(value) }));
  const probe = (initialDelaySeconds: number, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path: probePath, port: 'http' },
    initialDelaySeconds,
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold,
  });

  const ns: KubeObject = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: namespace,
      labels: ownership,
      annotations: {
        [EXPIRES_AT_ANNOTATION]: input.expiresAt.toISOString(),
        [PROJECT_NAME_ANNOTATION]: input.projectName,
      },
    },
  };

  const deployment: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(PREVIEW_NAME),
    spec: {
      replicas,
      revisionHistoryLimit: 2,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels, annotations: { [COMMIT_SHA_ANNOTATION]: sha } },
        spec: {
          // Preview code is untrusted PR code: it gets no API credentials.
          automountServiceAccountToken: false,
          containers: [
            {
              name: 'app',
              image,
              imagePullPolicy: 'IfNotPresent',
              ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }],
              ...(env.length > 0 ? { env } : {}),
              resources: {
                requests: { ...DEFAULT_RESOURCES.requests, ...definedOnly(settings.resources?.requests) },
                limits: { ...DEFAULT_RESOURCES.limits, ...definedOnly(settings.resources?.limits) },
              },
              readinessProbe: probe(5, 5, 3),
              livenessProbe: probe(15, 10, 6),
              securityContext: { allowPrivilegeEscalation: false },
            },
          ],
        },
      },
    },
  };

  const service: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(PREVIEW_NAME),
    spec: {
      type: 'ClusterIP',
      selector,
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
    },
  };

  const ingress: KubeObject = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: meta(PREVIEW_NAME),
    spec: {
      ...(settings.ingressClassName ? { ingressClassName: settings.ingressClassName } : {}),
      ...(settings.tlsSecretName ? { tls: [{ hosts: [host], secretName: settings.tlsSecretName }] } : {}),
      rules: [
        {
          host,
          http: {
            paths: [
              {
                path: '/',
                pathType: 'Prefix',
                backend: { service: { name: PREVIEW_NAME, port: { name: 'http' } } },
              },
            ],
          },
        },
      ],
    },
  };

  return [ns, deployment, service, ingress];
}

/** Drops keys set to undefined/empty so they do not override the defaults. */
function definedOnly(quantities: { cpu?: string; memory?: string } | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(quantities ?? {}).filter((e): e is [string, string] => !!e[1]));
}
