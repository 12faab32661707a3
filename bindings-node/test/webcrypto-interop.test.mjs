// Envelopes interoperate with WebCrypto (`globalThis.crypto.subtle`) alone: what the core
// seals, a browser opens with AES-GCM (and AES-KW for the wrapped form), and what a browser
// seals by hand, the core opens. The AAD is built here independently, with JSON.stringify
// of an object whose members are written in RFC 8785 order.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { canonicalize, generateKey, HandrailError, openEnvelope, sealEnvelope } from "handrail";

const { subtle } = globalThis.crypto;
const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const fromB64url = (text) => Buffer.from(text, "base64url");
const utf8 = (text) => Buffer.from(text, "utf8");

/** The kid and raw bytes of compact key text `hrk1.<kid>.<base64url key>`. */
function splitKey(text) {
  const dot = text.lastIndexOf(".");
  return { kid: text.slice("hrk1.".length, dot), raw: fromB64url(text.slice(dot + 1)) };
}

/** The additional authenticated data: canonical JSON of header and context. */
function aad(kid, ek, requestId, field) {
  const header = { alg: "A256GCM", ctx: { field, request: requestId } };
  if (ek !== undefined) header.ek = ek;
  header.kid = kid;
  header.v = 1;
  return utf8(JSON.stringify(header));
}

const importGcm = (raw, usages) => subtle.importKey("raw", raw, "AES-GCM", false, usages);
const importKw = (raw, usages) => subtle.importKey("raw", raw, "AES-KW", false, usages);

/** Opens a v1 envelope with WebCrypto only. */
async function webOpen(envelopeText, keyText, requestId, field) {
  const env = JSON.parse(envelopeText);
  const { kid, raw } = splitKey(keyText);
  assert.equal(env.kid, kid);
  const key =
    env.ek === undefined
      ? await importGcm(raw, ["decrypt"])
      : await subtle.unwrapKey(
          "raw",
          fromB64url(env.ek),
          await importKw(raw, ["unwrapKey"]),
          "AES-KW",
          "AES-GCM",
          false,
          ["decrypt"],
        );
  const params = { name: "AES-GCM", iv: fromB64url(env.iv), additionalData: aad(env.kid, env.ek, requestId, field) };
  return Buffer.from(await subtle.decrypt(params, key, fromB64url(env.ct)));
}

/** Seals a v1 envelope with WebCrypto only, writing the JSON by hand. */
async function webSeal(keyText, requestId, field, plaintext, { wrap = false } = {}) {
  const { kid, raw } = splitKey(keyText);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  let key;
  let ek;
  if (wrap) {
    key = await subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt"]);
    ek = b64url(await subtle.wrapKey("raw", key, await importKw(raw, ["wrapKey"]), "AES-KW"));
  } else {
    key = await importGcm(raw, ["encrypt"]);
  }
  const ct = await subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad(kid, ek, requestId, field) }, key, plaintext);
  const env = { v: 1, alg: "A256GCM", kid, ...(ek === undefined ? {} : { ek }), iv: b64url(iv), ct: b64url(ct) };
  return JSON.stringify(env);
}

const expectCode = (code) => (err) => {
  assert.ok(err instanceof HandrailError, `expected HandrailError, got ${err}`);
  assert.equal(err.code, code);
  return true;
};

// Request ids and fields that exercise JSON string escaping in the AAD.
const contexts = [
  ["req_01HZX", "payload"],
  ['r\u00e9q "quoted" \\ \u2028 \u0001', "payload.account[0]"],
];
const plaintexts = [Buffer.alloc(0), utf8('{"amount":4200,"currency":"EUR"}'), crypto.getRandomValues(new Uint8Array(4099))];

describe("webcrypto interop", () => {
  const key = generateKey("client-1");
  const master = generateKey("master:2026-01");

  test("the AAD built here is the core's canonical JSON", () => {
    for (const [requestId, field] of contexts) {
      for (const ek of [undefined, "ZWs"]) {
        const bytes = aad("k1", ek, requestId, field);
        assert.equal(canonicalize(bytes), bytes.toString("utf8"));
      }
    }
  });

  for (const wrap of [false, true]) {
    const mode = wrap ? "wrapped" : "direct";
    const keyText = wrap ? master : key;

    test(`${mode}: sealed by the core, opened by WebCrypto`, async () => {
      for (const [requestId, field] of contexts) {
        for (const pt of plaintexts) {
          const sealed = sealEnvelope(keyText, requestId, field, pt, { wrap });
          assert.equal(JSON.parse(sealed).ek !== undefined, wrap);
          assert.deepEqual(await webOpen(sealed, keyText, requestId, field), Buffer.from(pt));
        }
      }
    });

    test(`${mode}: sealed by WebCrypto, opened by the core`, async () => {
      for (const [requestId, field] of contexts) {
        for (const pt of plaintexts) {
          const sealed = await webSeal(keyText, requestId, field, pt, { wrap });
          assert.deepEqual(openEnvelope(sealed, [key, master], requestId, field), Buffer.from(pt));
        }
      }
    });

    test(`${mode}: another request id or field does not open`, async () => {
      const pt = utf8("secret");
      const byCore = sealEnvelope(keyText, "req_1", "payload", pt, { wrap });
      const byWeb = await webSeal(keyText, "req_1", "payload", pt, { wrap });
      for (const [requestId, field] of [["req_2", "payload"], ["req_1", "state"]]) {
        for (const sealed of [byCore, byWeb]) {
          assert.throws(() => openEnvelope(sealed, [key, master], requestId, field), expectCode("decrypt_failed"));
        }
        await assert.rejects(webOpen(byCore, keyText, requestId, field), { name: "OperationError" });
      }
    });
  }

  test("the kid picks the key: a known but different key does not open", async () => {
    const sealed = JSON.parse(await webSeal(key, "req_1", "payload", utf8("x")));
    const other = generateKey("client-1");
    assert.throws(() => openEnvelope(JSON.stringify(sealed), [other], "req_1", "payload"), expectCode("decrypt_failed"));
    assert.throws(() => openEnvelope(JSON.stringify(sealed), [master], "req_1", "payload"), expectCode("unknown_kid"));
  });

  test("legacy _lp_enc made by WebCrypto (no AAD) opens with the legacy key", async () => {
    const { raw } = splitKey(key);
    const pt = utf8('{"to":"ops@example.com"}');
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const ct = await subtle.encrypt({ name: "AES-GCM", iv }, await importGcm(raw, ["encrypt"]), pt);
    const legacy = JSON.stringify({
      _lp_enc: true,
      iv: Buffer.from(iv).toString("base64"),
      ct: Buffer.from(ct).toString("base64"),
    });
    // It is bound to no request: any context opens it, with the legacy key only.
    assert.deepEqual(openEnvelope(legacy, [], "any", "where", { legacyKey: key }), pt);
    assert.throws(() => openEnvelope(legacy, [key], "any", "where"), expectCode("unknown_kid"));
    assert.throws(
      () => openEnvelope(legacy, [], "any", "where", { legacyKey: master }),
      expectCode("decrypt_failed"),
    );
  });
});
