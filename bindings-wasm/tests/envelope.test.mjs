// Keys and envelopes on both builds: tests/vectors/envelope.json (made with WebCrypto)
// replayed through sealEnvelope/openEnvelope, and every case opened a second time through
// envelopeParts + globalThis.crypto.subtle, the dashboard's bulk path.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { b64url, expectHandrailError, expectPlainError, loadBuilds, readVectors } from './_builds.mjs';

const builds = await loadBuilds();
const doc = readVectors('envelope');
const subtle = globalThis.crypto.subtle;

/** Compact key text of a vector key. */
const keyText = (kid, secret) => `hrk1.${kid}.${secret}`;
const keys = doc.keys.map((k) => keyText(k.kid, k.key));
const secretOf = (kid) => doc.keys.find((k) => k.kid === kid)?.key;
const legacyKey = keyText('legacy', doc.legacy_key);
const opens = doc.cases.filter((c) => 'plaintext_b64url' in c);
const fails = doc.cases.filter((c) => 'error' in c);

/** Opens through WebCrypto alone, from envelopeParts and the raw key bytes. */
async function webcryptoOpen(parts, secret) {
  const raw = b64url.decode(secret);
  let key;
  if (parts.ek) {
    const kek = await subtle.importKey('raw', raw, 'AES-KW', false, ['unwrapKey']);
    key = await subtle.unwrapKey('raw', parts.ek, kek, 'AES-KW', 'AES-GCM', false, ['decrypt']);
  } else {
    key = await subtle.importKey('raw', raw, 'AES-GCM', false, ['decrypt']);
  }
  return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: parts.iv, additionalData: parts.aad }, key, parts.ct));
}

const secretFor = (parts) => (parts.legacy ? doc.legacy_key : secretOf(parts.kid));

test('the vectors have cases of each kind', () => {
  assert.ok(opens.length >= 7, `${opens.length} opening cases`);
  assert.ok(fails.length >= 15, `${fails.length} error cases`);
  assert.ok(opens.some((c) => c.data_key) && opens.some((c) => c.legacy));
});

for (const [build, api] of Object.entries(builds)) {
  describe(`envelope vectors (${build} build)`, () => {
    for (const c of opens) {
      const { request_id: rid, field } = c.context;
      const plaintext = b64url.decode(c.plaintext_b64url);
      test(`${c.name}: opens to the plaintext, in wasm and through WebCrypto`, async () => {
        const opened = api.openEnvelope(c.envelope, keys, rid, field, { legacyKey });
        assert.ok(opened instanceof Uint8Array);
        assert.deepEqual(opened, plaintext);
        assert.deepEqual(api.openEnvelope(new TextEncoder().encode(c.envelope), keys, rid, field, { legacyKey }), plaintext);
        assert.equal(api.isEnvelope(c.envelope), true);

        const parts = api.envelopeParts(c.envelope, rid, field);
        assert.equal(parts.legacy, !!c.legacy);
        assert.equal(parts.kid, c.legacy ? null : c.kid);
        assert.equal(parts.iv.length, 12);
        assert.equal(parts.ct.length, plaintext.length + 16);
        assert.equal(parts.ek === null, !c.data_key);
        assert.equal(parts.aad.length === 0, !!c.legacy);
        assert.deepEqual(await webcryptoOpen(parts, secretFor(parts)), plaintext);

        // Another request id or field changes the AAD: both paths refuse.
        if (!c.legacy) {
          expectHandrailError(() => api.openEnvelope(c.envelope, keys, 'req_other', field), 'decrypt_failed');
          await assert.rejects(webcryptoOpen(api.envelopeParts(c.envelope, 'req_other', field), secretFor(parts)));
          await assert.rejects(webcryptoOpen(api.envelopeParts(c.envelope, rid, 'other'), secretFor(parts)));
        }
        // The wrong key under the same kid: both paths refuse.
        const other = c.kid === 'client-1' ? doc.keys[1].key : doc.keys[0].key;
        if (!c.legacy) {
          const wrong = keys.map((k) => (k.startsWith(`hrk1.${c.kid}.`) ? keyText(c.kid, other) : k));
          expectHandrailError(() => api.openEnvelope(c.envelope, wrong, rid, field), c.data_key ? 'unwrap_failed' : 'decrypt_failed');
        }
        await assert.rejects(webcryptoOpen(parts, c.legacy ? doc.keys[0].key : other));
        // A flipped ciphertext byte: both paths refuse.
        const flipped = { ...parts, ct: parts.ct.map((b, i) => (i === 0 ? b ^ 1 : b)) };
        await assert.rejects(webcryptoOpen(flipped, secretFor(parts)));
      });

      if (!c.legacy) {
        test(`${c.name}: seals to exactly the vector`, () => {
          const key = keyText(c.kid, secretOf(c.kid));
          const options = { iv: b64url.decode(c.iv), ...(c.data_key ? { dataKey: b64url.decode(c.data_key) } : {}) };
          assert.equal(api.sealEnvelope(key, rid, field, plaintext, options), c.envelope);
        });
      }
    }

    for (const c of fails) {
      const { request_id: rid, field } = c.context;
      test(`${c.name}: ${c.error} in wasm, and no plaintext through WebCrypto`, async () => {
        expectHandrailError(() => api.openEnvelope(c.envelope, keys, rid, field, { legacyKey }), c.error);
        let parts;
        try {
          parts = api.envelopeParts(c.envelope, rid, field);
        } catch (err) {
          // What envelopeParts refuses, it refuses with openEnvelope's code.
          assert.equal(err.name, 'HandrailError');
          assert.equal(err.code, c.error);
          assert.ok(['envelope_malformed', 'envelope_unsupported', 'encoding'].includes(c.error), c.error);
          return;
        }
        assert.ok(['decrypt_failed', 'unwrap_failed', 'unknown_kid'].includes(c.error), `parts of a ${c.error} case`);
        const secret = secretFor(parts);
        if (c.error === 'unknown_kid') {
          assert.equal(secret, undefined);
          return;
        }
        await assert.rejects(webcryptoOpen(parts, secret));
      });
    }

    test('the legacy form needs the legacy key', () => {
      const legacy = opens.find((c) => c.legacy);
      const { request_id: rid, field } = legacy.context;
      expectHandrailError(() => api.openEnvelope(legacy.envelope, keys, rid, field), 'unknown_kid');
      expectHandrailError(() => api.openEnvelope(legacy.envelope, keys, rid, field, { legacyKey: 'nope' }), 'invalid_key');
    });
  });

  describe(`keys and sealing (${build} build)`, () => {
    test('generate → JWK → compact text round trip', () => {
      const key = api.generateKey('dash-1');
      assert.match(key, /^hrk1\.dash-1\.[A-Za-z0-9_-]{43}$/);
      assert.equal(api.keyKid(key), 'dash-1');
      const jwk = JSON.parse(api.keyToJwk(key));
      assert.deepEqual(Object.keys(jwk).sort(), ['k', 'kid', 'kty']);
      assert.equal(jwk.kty, 'oct');
      assert.equal(jwk.kid, 'dash-1');
      assert.equal(`hrk1.${jwk.kid}.${jwk.k}`, key);
      assert.equal(api.keyFromJwk(JSON.stringify(jwk)), key);
      assert.notEqual(api.generateKey('dash-1'), key);
    });

    test('bad keys give their codes and leave the module usable', () => {
      expectHandrailError(() => api.generateKey(''), 'invalid_key');
      expectHandrailError(() => api.generateKey('has space'), 'invalid_key');
      expectHandrailError(() => api.keyKid('nope'), 'invalid_key');
      expectHandrailError(() => api.keyKid('hrk1.k1.AAAA'), 'invalid_key');
      expectHandrailError(() => api.keyToJwk('hrk1.k1'), 'invalid_key');
      expectHandrailError(() => api.keyFromJwk('{'), 'json_syntax');
      expectHandrailError(() => api.keyFromJwk('{"kty":"RSA","kid":"a","k":"AA"}'), 'invalid_key');
      expectHandrailError(() => api.keyFromJwk('{"kty":"oct","kid":"a","k":"AAAA"}'), 'invalid_key');
      expectHandrailError(() => api.sealEnvelope('hrk1.x', 'r', 'f', new Uint8Array(1)), 'invalid_key');
      expectHandrailError(() => api.openEnvelope('{}', ['junk'], 'r', 'f'), 'invalid_key');
      expectPlainError(() => api.sealEnvelope(keys[0], 'r', 'f', 'text'), TypeError);
      expectPlainError(() => api.sealEnvelope(keys[0], 'r', 'f', new Uint8Array(1), { iv: new Uint8Array(3) }), RangeError);
      expectPlainError(() => api.sealEnvelope(keys[0], 'r', 'f', new Uint8Array(1), { dataKey: new Uint8Array(32) }), RangeError);
      expectPlainError(() => api.sealEnvelope(keys[0], 'r', 'f', new Uint8Array(1), { wrap: 'yes' }), TypeError);
      expectPlainError(() => api.envelopeParts(42, 'r', 'f'), TypeError);
      assert.equal(api.isEnvelope('not json'), false);
      assert.equal(api.isEnvelope('{"ct":"a","iv":"b"}'), false);
      assert.equal(api.isEnvelope('{"_lp_enc":true,"ct":"a","iv":"b"}'), true);
      // Still working after all of the above.
      assert.equal(api.keyKid(keys[0]), 'client-1');
      assert.equal(api.canonicalize('{"b":1,"a":2}'), '{"a":2,"b":1}');
    });

    test('sealed in wasm with random IVs, opened by both paths (direct and wrapped)', async () => {
      const key = api.generateKey('k-live');
      const jwk = JSON.parse(api.keyToJwk(key));
      const plaintext = new TextEncoder().encode('{"amount":4200}');
      for (const wrap of [false, true]) {
        const sealed = api.sealEnvelope(key, 'req_9', 'payload', plaintext, { wrap });
        assert.equal(JSON.parse(sealed).ek !== undefined, wrap);
        assert.deepEqual(api.openEnvelope(sealed, [key], 'req_9', 'payload'), plaintext);
        const parts = api.envelopeParts(sealed, 'req_9', 'payload');
        assert.deepEqual(await webcryptoOpen(parts, jwk.k), plaintext);
        assert.notEqual(api.sealEnvelope(key, 'req_9', 'payload', plaintext, { wrap }), sealed, 'fresh IV each time');
      }
    });
  });
}
