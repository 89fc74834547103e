import { createHmac, timingSafeEqual } from 'node:crypto';
import { verify } from '@octokit/webhooks-methods';

export interface SignatureHeaders {
  /** X-Gitea-Signature: bare lowercase hex HMAC-SHA256 (also sent as X-Gogs-Signature). */
  giteaSignature?: string;
  /** X-Hub-Signature-256: `sha256=` + the same hex. */
  hubSignature256?: string;
}

/**
 * Checks a Gitea delivery against every configured secret (several secrets allow rotation).
 *
 * `rawBody` must be the exact payload JSON bytes Gitea signed, never a re-serialised object.
 * For `content_type=json` hooks that is the raw request body; for `form` hooks it is the
 * URL-decoded `payload` field, not the form body (WEBHOOKS.md §2).
 *
 * Each header must be in Gitea's exact format: lowercase hex, with `sha256=` only on
 * X-Hub-Signature-256. Gitea emits lowercase (Go's hex.EncodeToString) and octokit's `verify`
 * compares case-sensitively, so uppercase hex is rejected on both headers alike.
 */
export async function verifySignature(
  rawBody: Buffer,
  headers: SignatureHeaders,
  secrets: readonly string[],
): Promise<boolean> {
  // An empty secret is skipped: anyone can compute an HMAC under an empty key.
  const keys = secrets.filter((secret) => secret.length > 0);
  // Gitea never sends an empty payload, and octokit's verify throws on one.
  if (keys.length === 0 || rawBody.length === 0) return false;

  const giteaSignature = headers.giteaSignature ?? '';
  const hubSignature = headers.hubSignature256 ?? '';
  // octokit's verify hashes a string; use it only when decoding the body as UTF-8 is lossless,
  // so that it hashes exactly rawBody. Decoded only when X-Gitea-Signature did not already match.
  let hubText: string | null | undefined;
  const textForHub = (): string | null => {
    if (hubText === undefined) {
      const text = hubSignature === '' ? null : rawBody.toString('utf8');
      hubText = text !== null && Buffer.from(text, 'utf8').equals(rawBody) ? text : null;
    }
    return hubText;
  };

  for (const secret of keys) {
    if (giteaSignature !== '' && bareHexMatches(rawBody, giteaSignature, secret)) return true;
    const text = textForHub();
    if (text !== null && (await verify(secret, text, hubSignature))) return true;
  }
  return false;
}

/** Lowercase hex HMAC-SHA256 of the payload bytes, as in X-Gitea-Signature. For tests and tools. */
export function signPayload(rawBody: Buffer | string, secret: string): string {
  return createHmac('sha256', secret).update(rawBody).digest('hex');
}

function bareHexMatches(rawBody: Buffer, signature: string, secret: string): boolean {
  const expected = Buffer.from(signPayload(rawBody, secret), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  // timingSafeEqual throws on unequal lengths; the length of a hex digest is no secret.
  return given.length === expected.length && timingSafeEqual(given, expected);
}
