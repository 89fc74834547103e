import type { IncomingHttpHeaders } from 'node:http';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * The host names a browser or agent may name when it talks to aiworker: PUBLIC_URL's host, those in
 * ALLOWED_HOSTS (an entry with a port allows that port only) and loopback on any port. A page on
 * any other site (or a name rebound to this address) is refused before it can act — the DNS
 * rebinding rule of the MCP transport, applied to the console's cookie-authenticated calls too.
 */
export class HostRule {
  private readonly names = new Set<string>();
  private readonly hostsWithPort = new Set<string>();

  constructor(publicUrl: string | null, allowedHosts: string[]) {
    if (publicUrl) this.names.add(new URL(publicUrl).hostname.toLowerCase());
    for (const entry of allowedHosts) {
      const host = entry.toLowerCase();
      if (/:\d+$/.test(host)) this.hostsWithPort.add(host);
      else this.names.add(host);
    }
  }

  /** Whether a `Host` value (`name` or `name:port`) is one of ours. */
  allowsHost(host: string): boolean {
    const value = host.trim().toLowerCase();
    const match = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(value);
    if (!match || !match[1]) return false;
    const name = match[1];
    return LOOPBACK.has(name) || this.names.has(name) || this.hostsWithPort.has(value);
  }

  /** Whether an `Origin` value names one of our hosts (`null` and anything unparsable do not). */
  allowsOrigin(origin: string): boolean {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
    return this.allowsHost(url.host);
  }

  /**
   * Why a request is refused, or null when it may go on: its `Origin` (when present) and its `Host`
   * must both name one of our hosts. The raw `Host` is read (not X-Forwarded-Host, which a page on
   * a rebound name could set itself).
   */
  refusal(headers: IncomingHttpHeaders): string | null {
    const origin = headers.origin;
    if (origin !== undefined && !this.allowsOrigin(origin)) return `Origin ${origin} is not one of this service's hosts (PUBLIC_URL, ALLOWED_HOSTS or loopback)`;
    const host = headers.host;
    if (!host || !this.allowsHost(host)) return `Host ${host ?? '(none)'} is not one of this service's hosts (PUBLIC_URL, ALLOWED_HOSTS or loopback)`;
    return null;
  }
}
