import { expect } from 'chai';
import { signPayload, verifySignature } from '../../src/gitea/signature.js';

// The worked example of WEBHOOKS.md §2, byte for byte.
const SECRET = 'gitea-bot-secret';
const BODY = Buffer.from('{\n  "action": "opened",\n  "number": 7\n}', 'utf8');
const HEX = 'd0e45b2bbf3a28c3769c402af44463ab29cb0ddae28923c0a677649452fba5d6';
const RESERIALIZED_HEX = '137a645e61cdccc896d1664445976d4e60fc0e861cccc958d2363c0f14f51eae';

describe('gitea signature', () => {
  describe('signPayload', () => {
    it('reproduces the WEBHOOKS.md worked example', () => {
      expect(BODY.length).to.equal(39);
      expect(signPayload(BODY, SECRET)).to.equal(HEX);
    });

    it('gives the same lowercase hex for a string and its UTF-8 bytes', () => {
      expect(signPayload(BODY.toString('utf8'), SECRET)).to.equal(HEX);
      expect(signPayload('{"title": "Ünïcödé"}', 's')).to.equal(signPayload(Buffer.from('{"title": "Ünïcödé"}'), 's'));
      expect(signPayload('x', 's')).to.match(/^[0-9a-f]{64}$/);
    });

    it('differs for the re-serialised body, which is why the raw bytes must be kept', () => {
      const compact = JSON.stringify(JSON.parse(BODY.toString('utf8')));
      expect(compact).to.equal('{"action":"opened","number":7}');
      expect(signPayload(compact, SECRET)).to.equal(RESERIALIZED_HEX);
    });
  });

  describe('verifySignature', () => {
    it('accepts the worked example through X-Gitea-Signature', async () => {
      expect(await verifySignature(BODY, { giteaSignature: HEX }, [SECRET])).to.equal(true);
    });

    it('accepts the worked example through X-Hub-Signature-256', async () => {
      expect(await verifySignature(BODY, { hubSignature256: `sha256=${HEX}` }, [SECRET])).to.equal(true);
    });

    it('accepts the real header pair Gitea sends', async () => {
      expect(await verifySignature(BODY, { giteaSignature: HEX, hubSignature256: `sha256=${HEX}` }, [SECRET])).to.equal(true);
    });

    it('accepts when one header is right even if the other is wrong', async () => {
      const wrong = signPayload(BODY, 'other');
      expect(await verifySignature(BODY, { giteaSignature: wrong, hubSignature256: `sha256=${HEX}` }, [SECRET])).to.equal(true);
      expect(await verifySignature(BODY, { giteaSignature: HEX, hubSignature256: `sha256=${wrong}` }, [SECRET])).to.equal(true);
    });

    it('supports secret rotation: any configured secret may match, in any order', async () => {
      for (const secrets of [['new-secret', SECRET], [SECRET, 'new-secret']]) {
        expect(await verifySignature(BODY, { giteaSignature: HEX }, secrets)).to.equal(true);
        expect(await verifySignature(BODY, { hubSignature256: `sha256=${HEX}` }, secrets)).to.equal(true);
      }
      const signedWithNew = signPayload(BODY, 'new-secret');
      expect(await verifySignature(BODY, { giteaSignature: signedWithNew }, [SECRET, 'new-secret'])).to.equal(true);
    });

    it('rejects a wrong secret', async () => {
      expect(await verifySignature(BODY, { giteaSignature: HEX, hubSignature256: `sha256=${HEX}` }, ['not-the-secret'])).to.equal(false);
      expect(await verifySignature(BODY, { giteaSignature: HEX }, ['gitea-bot-secreT', 'gitea-bot-secret '])).to.equal(false);
    });

    it('rejects empty and missing signatures, including what a hook without a secret sends', async () => {
      expect(await verifySignature(BODY, {}, [SECRET])).to.equal(false);
      expect(await verifySignature(BODY, { giteaSignature: '', hubSignature256: '' }, [SECRET])).to.equal(false);
      expect(await verifySignature(BODY, { giteaSignature: '', hubSignature256: 'sha256=' }, [SECRET])).to.equal(false);
    });

    it('rejects everything when no usable secret is configured', async () => {
      expect(await verifySignature(BODY, { giteaSignature: HEX }, [])).to.equal(false);
      // An HMAC under the empty key is forgeable by anyone, so an empty secret never matches.
      const emptyKeyHex = signPayload(BODY, '');
      expect(await verifySignature(BODY, { giteaSignature: emptyKeyHex, hubSignature256: `sha256=${emptyKeyHex}` }, [''])).to.equal(false);
    });

    it('rejects a tampered body', async () => {
      const headers = { giteaSignature: HEX, hubSignature256: `sha256=${HEX}` };
      const tampered = Buffer.from(BODY.toString('utf8').replace('7', '8'), 'utf8');
      expect(await verifySignature(tampered, headers, [SECRET])).to.equal(false);
      expect(await verifySignature(Buffer.concat([BODY, Buffer.from('\n')]), headers, [SECRET])).to.equal(false);
      expect(await verifySignature(Buffer.from('{"action":"opened","number":7}'), headers, [SECRET])).to.equal(false);
      expect(await verifySignature(Buffer.alloc(0), { giteaSignature: signPayload('', SECRET) }, [SECRET])).to.equal(false);
    });

    it('requires the sha256= prefix on X-Hub-Signature-256 and forbids it on X-Gitea-Signature', async () => {
      expect(await verifySignature(BODY, { hubSignature256: HEX }, [SECRET])).to.equal(false);
      expect(await verifySignature(BODY, { giteaSignature: `sha256=${HEX}` }, [SECRET])).to.equal(false);
      expect(await verifySignature(BODY, { hubSignature256: `sha1=${HEX}` }, [SECRET])).to.equal(false);
    });

    it('rejects uppercase hex: Gitea always sends lowercase, and both headers are compared exactly', async () => {
      expect(await verifySignature(BODY, { giteaSignature: HEX.toUpperCase() }, [SECRET])).to.equal(false);
      expect(await verifySignature(BODY, { hubSignature256: `sha256=${HEX.toUpperCase()}` }, [SECRET])).to.equal(false);
    });

    it('rejects truncated, extended and non-hex signatures without throwing', async () => {
      for (const sig of [HEX.slice(0, 63), `${HEX}0`, HEX.slice(0, 32), 'é'.repeat(32), ' '.repeat(64)]) {
        expect(await verifySignature(BODY, { giteaSignature: sig, hubSignature256: `sha256=${sig}` }, [SECRET])).to.equal(false);
      }
    });

    it('checks X-Gitea-Signature over the raw bytes even when they are not valid UTF-8', async () => {
      const raw = Buffer.concat([Buffer.from('{"x": "'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
      const hex = signPayload(raw, SECRET);
      expect(await verifySignature(raw, { giteaSignature: hex }, [SECRET])).to.equal(true);
      // octokit's verify only hashes strings, which cannot carry these bytes: fail closed.
      expect(await verifySignature(raw, { hubSignature256: `sha256=${hex}` }, [SECRET])).to.equal(false);
    });
  });
});
