import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('settings', () => {
  it('has defaults for a local machine', () => {
    const c = loadConfig({});
    expect(c.port).to.equal(3000);
    expect(c.databaseUrl).to.equal('mysql://root@127.0.0.1:3306/aiworker');
    expect(c.redisUrl).to.equal('redis://127.0.0.1:6379');
    expect(c.role).to.equal('all');
    expect(c.webhookMaxBytes).to.equal(5 * 1024 * 1024);
    expect(c.gitea).to.equal(null);
    expect(c.kube).to.equal(null);
    expect(c.agentTimeoutMs).to.equal(15 * 60 * 1000);
    expect(c.preview.ttlHours).to.equal(72);
  });

  it('names every malformed setting', () => {
    try {
      loadConfig({ PORT: 'abc', ROLE: 'boss', DATABASE_URL: 'postgres://x', WEBHOOK_MAX_BYTES: '-1' });
      expect.fail('should throw');
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      const msg = (err as Error).message;
      for (const name of ['PORT', 'ROLE', 'DATABASE_URL', 'WEBHOOK_MAX_BYTES']) expect(msg).to.include(name);
    }
  });

  it('uses the pod\'s service account when running in a pod, unless told otherwise', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aiw-sa-'));
    const token = join(dir, 'token');
    writeFileSync(token, 'a-token');
    try {
      const pod = { KUBERNETES_SERVICE_HOST: '10.0.0.1' };
      expect(loadConfig(pod, token).kube).to.include({ inCluster: true, kubeconfigPath: null });
      expect(loadConfig({ ...pod, KUBE_IN_CLUSTER: 'false' }, token).kube).to.equal(null);
      expect(loadConfig({ ...pod, KUBECONFIG: '/etc/kube/config' }, token).kube).to.include({ inCluster: false, kubeconfigPath: '/etc/kube/config' });
      // Not in a pod: no service host, or no token mounted.
      expect(loadConfig({}, token).kube).to.equal(null);
      expect(loadConfig(pod, join(dir, 'missing')).kube).to.equal(null);
      expect(loadConfig({ KUBE_IN_CLUSTER: 'true' }, join(dir, 'missing')).kube).to.include({ inCluster: true });
      expect(() => loadConfig({ KUBE_IN_CLUSTER: 'true', KUBECONFIG: '/etc/kube/config' }, token)).to.throw(/choose one/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('needs GITEA_URL and GITEA_TOKEN together, and accepts several webhook secrets', () => {
    expect(() => loadConfig({ GITEA_URL: 'https://gitea.example.com' })).to.throw(/GITEA_TOKEN/);
    const c = loadConfig({ GITEA_URL: 'https://gitea.example.com/', GITEA_TOKEN: 't', GITEA_WEBHOOK_SECRET: 'new, old' });
    expect(c.gitea?.url).to.equal('https://gitea.example.com');
    expect(c.webhookSecrets).to.deep.equal(['new', 'old']);
  });

  it('turns sign-in with Gitea on only when GITEA_URL, the OAuth2 client and PUBLIC_URL are all set, and names what is missing', () => {
    const gitea = { GITEA_URL: 'https://gitea.example.com', GITEA_TOKEN: 't' };
    expect(loadConfig(gitea).signIn).to.equal(null);
    const on = loadConfig({ ...gitea, PUBLIC_URL: 'https://aiworker.example.com/', GITEA_OAUTH_CLIENT_ID: 'id', GITEA_OAUTH_CLIENT_SECRET: 's' }).signIn;
    expect(on).to.deep.include({ giteaUrl: 'https://gitea.example.com', clientId: 'id', redirectUri: 'https://aiworker.example.com/auth/callback', secureCookies: true });
    expect(loadConfig({ ...gitea, PUBLIC_URL: 'http://localhost:3000', GITEA_OAUTH_CLIENT_ID: 'id', GITEA_OAUTH_CLIENT_SECRET: 's' }).signIn?.secureCookies).to.equal(false);
    expect(() => loadConfig({ ...gitea, PUBLIC_URL: 'https://a.example', GITEA_OAUTH_CLIENT_ID: 'id' })).to.throw(/GITEA_OAUTH_CLIENT_SECRET/);
    expect(() => loadConfig({ ...gitea, GITEA_OAUTH_CLIENT_ID: 'id', GITEA_OAUTH_CLIENT_SECRET: 's' })).to.throw(/PUBLIC_URL/);
    expect(() => loadConfig({ PUBLIC_URL: 'https://a.example', GITEA_OAUTH_CLIENT_ID: 'id', GITEA_OAUTH_CLIENT_SECRET: 's' })).to.throw(/GITEA_URL/);
  });

  it('reads ALLOWED_HOSTS as host names with an optional port, and refuses anything else', () => {
    expect(loadConfig({ ALLOWED_HOSTS: 'board.example.com, aiworker-web:3000,[::2]' }).allowedHosts).to.deep.equal(['board.example.com', 'aiworker-web:3000', '[::2]']);
    for (const bad of ['https://board.example.com', 'board.example.com/path', 'a b', '*.example.com']) {
      expect(() => loadConfig({ ALLOWED_HOSTS: bad }), bad).to.throw(/ALLOWED_HOSTS/);
    }
  });
});
