// Replays tests/vectors/envelope.json (made with WebCrypto by tests/vectors/generate.mjs):
// sealing with the fixed key, IV and data key gives exactly the expected envelope, opening
// gives the plaintext back, and each negative case fails with its error code.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import { HandrailError, openEnvelope, sealEnvelope } from "handrail";

const vectors = JSON.parse(readFileSync(new URL("../../tests/vectors/envelope.json", import.meta.url), "utf8"));
const b64url = (text) => Buffer.from(text, "base64url");

describe(`vectors: ${vectors.module}`, () => {
  const keyText = new Map(vectors.keys.map(({ kid, key }) => [kid, `hrk1.${kid}.${key}`]));
  const keys = [...keyText.values()];
  // The legacy form names no key; the kid of the compact text is ignored for it.
  const legacyKey = `hrk1.legacy.${vectors.legacy_key}`;

  for (const c of vectors.cases) {
    const { request_id: requestId, field } = c.context;
    test(c.name, () => {
      if ("error" in c) {
        assert.throws(
          () => openEnvelope(c.envelope, keys, requestId, field, { legacyKey }),
          (err) => {
            assert.ok(err instanceof HandrailError, `expected HandrailError, got ${err}`);
            assert.equal(err.code, c.error);
            return true;
          },
        );
        return;
      }
      const plaintext = b64url(c.plaintext_b64url);
      if (c.legacy) {
        assert.deepEqual(openEnvelope(c.envelope, keys, requestId, field, { legacyKey }), plaintext);
        assert.throws(() => openEnvelope(c.envelope, keys, requestId, field), { code: "unknown_kid" });
        return;
      }
      const options = { iv: b64url(c.iv) };
      if (c.data_key !== undefined) options.dataKey = b64url(c.data_key);
      assert.equal(sealEnvelope(keyText.get(c.kid), requestId, field, plaintext, options), c.envelope);
      const opened = openEnvelope(c.envelope, keys, requestId, field);
      assert.ok(Buffer.isBuffer(opened));
      assert.deepEqual(opened, plaintext);
      assert.deepEqual(openEnvelope(Buffer.from(c.envelope), keys, requestId, field), plaintext);
    });
  }
});
