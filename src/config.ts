import { existsSync } from 'node:fs';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const url = (protocols: string[]) =>
  z.string().refine((v) => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, `must be a URL (${protocols.join(' or ')})`);

const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

export const ROLES = ['web', 'worker', 'all'] as const;
export type Role = (typeof ROLES)[number];

/** Every setting, with its default. Names are the environment variables; README.md documents each. */
const schema = z.object({
  ROLE: z.enum(ROLES).default('all'),
  PORT: int(0, 65535).default(3000),
  DATABASE_URL: url(['mysql:', 'mariadb:']).default('mysql://root@127.0.0.1:3306/aiworker'),
  DATABASE_POOL_MAX: int(1, 1000).default(25),
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only').default('aiworker'),
  PUBLIC_URL: url(['http:', 'https:']).optional(),
  ALLOWED_HOSTS: list.pipe(z.array(z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:\d{1,5})?$/, 'each entry must be a host name, optionally with :port'))).optional(),
  GITEA_OAUTH_CLIENT_ID: z.string().min(1).optional(),
  GITEA_OAUTH_CLIENT_SECRET: z.string().min(1).optional(),
  GITEA_URL: url(['http:', 'https:']).optional(),
  GITEA_TOKEN: z.string().min(1).optional(),
  GITEA_WEBHOOK_SECRET: list.pipe(z.array(z.string()).min(1, 'must hold at least one secret')).optional(),
  GITEA_BOT_LOGIN: z.string().min(1).optional(),
  API_TOKEN: z.string().min(1).optional(),
  FEED_TOKEN: z.string().min(1).optional(),
  PREVIEW_DOMAIN: z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, 'must be a DNS domain').default('preview.localhost'),
  PREVIEW_TTL_HOURS: int(1, 24 * 365).default(72),
  PREVIEW_ROLLOUT_TIMEOUT_SECONDS: int(5, 3600).default(300),
  PREVIEW_INGRESS_CLASS: z.string().min(1).optional(),
  PREVIEW_TLS_SECRET: z.string().min(1).optional(),
  KUBECONFIG: z.string().min(1).optional(),
  KUBE_IN_CLUSTER: bool.optional(),
  ARGOCD_NAMESPACE: z.string().min(1).default('argocd'),
  ARGOCD_SYNC_TIMEOUT_SECONDS: int(5, 7200).default(600),
  WEBHOOK_MAX_BYTES: int(1024, 1024 ** 3).default(5 * 1024 * 1024),
  WEBHOOK_CONCURRENCY: int(1, 256).default(8),
  DEPLOY_CONCURRENCY: int(1, 64).default(4),
  JOB_LOCK_SECONDS: int(1, 3600).default(30),
  AGENT_TIMEOUT: int(10, 7 * 24 * 3600).default(15 * 60),
  AGENT_TOKEN_CACHE_SECONDS: int(0, 300).default(5),
  PERMISSION_CACHE_SECONDS: int(0, 3600).default(60),
  SHUTDOWN_GRACE_SECONDS: int(1, 600).default(10),
  DELIVERY_RETENTION_DAYS: int(1, 3650).default(30),
  AIWORKER_AGENT_TOKEN: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** The name of every setting (environment variable) aiworker reads. */
export const SETTING_NAMES = Object.keys(schema.shape) as Array<keyof typeof schema.shape>;

type Env = z.infer<typeof schema>;

export interface Config {
  role: Role;
  port: number;
  publicUrl: string | null;
  /** Host names (beyond PUBLIC_URL's and loopback) that browsers and agents may name in Origin/Host. */
  allowedHosts: string[];
  /** The console's sign-in with Gitea: set when GITEA_URL, the OAuth2 client id and secret and PUBLIC_URL all are. */
  signIn: { giteaUrl: string; clientId: string; clientSecret: string; redirectUri: string; secureCookies: boolean } | null;
  databaseUrl: string;
  /** MySQL connections a process opens at most (each holds buffers and a server thread). */
  databasePoolMax: number;
  redisUrl: string;
  redisPrefix: string;
  gitea: { url: string; token: string; botLogin: string | null } | null;
  webhookSecrets: string[];
  apiToken: string | null;
  feedToken: string | null;
  preview: {
    domain: string;
    ttlHours: number;
    rolloutTimeoutMs: number;
    ingressClassName: string | null;
    tlsSecretName: string | null;
  };
  kube: { kubeconfigPath: string | null; inCluster: boolean; argocdNamespace: string; syncTimeoutMs: number } | null;
  webhookMaxBytes: number;
  webhookConcurrency: number;
  deployConcurrency: number;
  /** How long a worker's hold on a job lasts without renewal; a job of a dead worker runs again after it. */
  jobLockMs: number;
  agentTimeoutMs: number;
  /** How long a process trusts an agent token it looked up: a revoked token is refused within this time. */
  agentTokenCacheMs: number;
  permissionCacheSeconds: number;
  /** Ended webhook deliveries older than this are deleted. */
  deliveryRetentionDays: number;
  shutdownGraceMs: number;
  logLevel: Env['LOG_LEVEL'];
  /** The agent `aiworker mcp` serves on stdio. */
  agentToken: string | null;
}

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Where Kubernetes mounts a pod's service account token. */
export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Parses the environment once; empty strings count as unset so `FOO=` falls back to the default.
 * Inside a pod (KUBERNETES_SERVICE_HOST set and a service account
 * token mounted) the cluster is used through that service account unless KUBECONFIG or
 * KUBE_IN_CLUSTER=false says otherwise; `serviceAccountToken` is where the token is looked for.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, serviceAccountToken = SERVICE_ACCOUNT_TOKEN): Config {
  const raw: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(environment)'}: ${i.message}`),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  if ((e.GITEA_URL === undefined) !== (e.GITEA_TOKEN === undefined)) {
    problems.push('GITEA_URL and GITEA_TOKEN: set both to talk to Gitea, or neither');
  }
  if (e.KUBECONFIG && e.KUBE_IN_CLUSTER) problems.push('KUBECONFIG and KUBE_IN_CLUSTER: choose one');
  if ((e.GITEA_OAUTH_CLIENT_ID === undefined) !== (e.GITEA_OAUTH_CLIENT_SECRET === undefined)) {
    problems.push('GITEA_OAUTH_CLIENT_ID and GITEA_OAUTH_CLIENT_SECRET: set both for sign-in with Gitea, or neither');
  }
  if (e.GITEA_OAUTH_CLIENT_ID && !e.GITEA_URL) problems.push('GITEA_OAUTH_CLIENT_ID: sign-in with Gitea also needs GITEA_URL');
  if (e.GITEA_OAUTH_CLIENT_ID && !e.PUBLIC_URL) problems.push('GITEA_OAUTH_CLIENT_ID: sign-in with Gitea also needs PUBLIC_URL (the redirect URI is <PUBLIC_URL>/auth/callback)');
  if (problems.length) throw new ConfigError(problems);

  const webhookSecrets = e.GITEA_WEBHOOK_SECRET ?? [];
  const inCluster = e.KUBE_IN_CLUSTER ?? (!e.KUBECONFIG && Boolean(env.KUBERNETES_SERVICE_HOST) && existsSync(serviceAccountToken));
  return {
    role: e.ROLE,
    port: e.PORT,
    publicUrl: e.PUBLIC_URL ?? null,
    allowedHosts: e.ALLOWED_HOSTS ?? [],
    signIn:
      e.GITEA_URL && e.GITEA_OAUTH_CLIENT_ID && e.GITEA_OAUTH_CLIENT_SECRET && e.PUBLIC_URL
        ? {
            giteaUrl: e.GITEA_URL.replace(/\/+$/, ''),
            clientId: e.GITEA_OAUTH_CLIENT_ID,
            clientSecret: e.GITEA_OAUTH_CLIENT_SECRET,
            redirectUri: `${e.PUBLIC_URL.replace(/\/+$/, '')}/auth/callback`,
            secureCookies: e.PUBLIC_URL.startsWith('https:'),
          }
        : null,
    databaseUrl: e.DATABASE_URL,
    databasePoolMax: e.DATABASE_POOL_MAX,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    gitea:
      e.GITEA_URL && e.GITEA_TOKEN
        ? { url: e.GITEA_URL.replace(/\/+$/, ''), token: e.GITEA_TOKEN, botLogin: e.GITEA_BOT_LOGIN ?? null }
        : null,
    webhookSecrets,
    apiToken: e.API_TOKEN ?? null,
    feedToken: e.FEED_TOKEN ?? null,
    preview: {
      domain: e.PREVIEW_DOMAIN,
      ttlHours: e.PREVIEW_TTL_HOURS,
      rolloutTimeoutMs: e.PREVIEW_ROLLOUT_TIMEOUT_SECONDS * 1000,
      ingressClassName: e.PREVIEW_INGRESS_CLASS ?? null,
      tlsSecretName: e.PREVIEW_TLS_SECRET ?? null,
    },
    kube:
      e.KUBECONFIG || inCluster
        ? {
            kubeconfigPath: e.KUBECONFIG ?? null,
            inCluster,
            argocdNamespace: e.ARGOCD_NAMESPACE,
            syncTimeoutMs: e.ARGOCD_SYNC_TIMEOUT_SECONDS * 1000,
          }
        : null,
    webhookMaxBytes: e.WEBHOOK_MAX_BYTES,
    webhookConcurrency: e.WEBHOOK_CONCURRENCY,
    deployConcurrency: e.DEPLOY_CONCURRENCY,
    jobLockMs: e.JOB_LOCK_SECONDS * 1000,
    agentTimeoutMs: e.AGENT_TIMEOUT * 1000,
    agentTokenCacheMs: e.AGENT_TOKEN_CACHE_SECONDS * 1000,
    permissionCacheSeconds: e.PERMISSION_CACHE_SECONDS,
    deliveryRetentionDays: e.DELIVERY_RETENTION_DAYS,
    shutdownGraceMs: e.SHUTDOWN_GRACE_SECONDS * 1000,
    logLevel: e.LOG_LEVEL,
    agentToken: e.AIWORKER_AGENT_TOKEN ?? null,
  };
}
