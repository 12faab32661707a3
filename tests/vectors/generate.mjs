#!/usr/bin/env node
// Generates the format vectors in this folder with Node's own crypto (node:crypto and
// WebCrypto) — an implementation independent of the Rust core — so that when the core
// replays them, two implementations agree byte for byte.
//
//   node tests/vectors/generate.mjs           # rewrite the files
//   node tests/vectors/generate.mjs --check   # fail if a file would change
//
// canonical.json and errors.json are written by hand (canonical.json's expectations come
// from RFC 8785 and ECMAScript; errors.json names the kind the core gives each error), and
// --check leaves them alone: it compares only the files it writes.

import { createHash, createHmac, createPrivateKey, sign as edSign, webcrypto } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const subtle = webcrypto.subtle;
const check = process.argv.includes('--check');

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const b64 = (buf) => Buffer.from(buf).toString('base64');
const bytes = (n, fill) => Buffer.alloc(n, fill);
const hex = (buf) => Buffer.from(buf).toString('hex');
const sha256 = (data) => createHash('sha256').update(data).digest();

// RFC 8785 for the values these vectors use: objects whose member names are ASCII (so
// UTF-16 order is byte order), strings, booleans, null and safe integers.
function jcs(value) {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(jcs).join(',')}]`;
  const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${jcs(value[k])}`).join(',')}}`;
}

// A copy without the members that are undefined (what JSON.stringify would drop).
const jcsObject = (value) => JSON.parse(jcs(value));

function lengthPrefixed(parts) {
  const chunks = [];
  for (const part of parts) {
    const buf = Buffer.from(part);
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(buf.length));
    chunks.push(len, buf);
  }
  return Buffer.concat(chunks);
}

function ed25519Private(seed) {
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
}
function ed25519Public(seed) {
  const jwk = ed25519Private(seed).export({ format: 'jwk' });
  return Buffer.from(jwk.x, 'base64url');
}

const outputs = {};
function emit(name, doc) {
  outputs[name] = JSON.stringify(doc, null, 1) + '\n';
}

// ---------------------------------------------------------------- envelope
async function gcm(key, iv, aad, plaintext) {
  const k = await subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt']);
  const params = { name: 'AES-GCM', iv, tagLength: 128 };
  if (aad !== null) params.additionalData = aad;
  return Buffer.from(await subtle.encrypt(params, k, plaintext));
}
async function kwWrap(kek, dataKey) {
  const wrapping = await subtle.importKey('raw', kek, 'AES-KW', false, ['wrapKey']);
  const toWrap = await subtle.importKey('raw', dataKey, 'AES-GCM', true, ['encrypt']);
  return Buffer.from(await subtle.wrapKey('raw', toWrap, wrapping, 'AES-KW'));
}
function aad(kid, ek, ctx) {
  return Buffer.from(jcs({ alg: 'A256GCM', ctx: { field: ctx.field, request: ctx.request_id }, ek, kid, v: 1 }));
}
function envelopeText(kid, ek, iv, ct) {
  const fields = [`"v":1`, `"alg":"A256GCM"`, `"kid":${JSON.stringify(kid)}`];
  if (ek !== undefined) fields.push(`"ek":"${ek}"`);
  fields.push(`"iv":"${b64url(iv)}"`, `"ct":"${b64url(ct)}"`);
  return `{${fields.join(',')}}`;
}

async function envelopeVectors() {
  const keys = [
    { kid: 'client-1', key: b64url(bytes(32, 0x11)) },
    { kid: 'master-1', key: b64url(bytes(32, 0x22)) },
  ];
  const legacyKey = b64url(bytes(32, 0x33));
  const cases = [];
  const ctx = { request_id: 'req_01HZX', field: 'payload' };
  const plaintexts = [
    ['empty plaintext', ''],
    ['json payload', '{"amount":4200,"currency":"EUR","to":"DE89370400440532013000"}'],
    ['unicode', 'Grüße, 世界 🌍'],
  ];
  let n = 0;
  for (const [name, text] of plaintexts) {
    n += 1;
    const iv = bytes(12, n);
    const pt = Buffer.from(text, 'utf8');
    const direct = await gcm(bytes(32, 0x11), iv, aad('client-1', undefined, ctx), pt);
    cases.push({
      name: `direct: ${name}`, kid: 'client-1', iv: b64url(iv), context: ctx,
      plaintext_b64url: b64url(pt), envelope: envelopeText('client-1', undefined, iv, direct),
    });
    const dataKey = bytes(32, 0x40 + n);
    const ek = b64url(await kwWrap(bytes(32, 0x22), dataKey));
    const wrapped = await gcm(dataKey, iv, aad('master-1', ek, ctx), pt);
    cases.push({
      name: `wrapped: ${name}`, kid: 'master-1', iv: b64url(iv), data_key: b64url(dataKey), context: ctx,
      plaintext_b64url: b64url(pt), envelope: envelopeText('master-1', ek, iv, wrapped),
    });
  }
  const good = cases.find((c) => c.name === "direct: json payload").envelope;
  const goodWrapped = cases.find((c) => c.name === "wrapped: json payload").envelope;
  const parsed = JSON.parse(good);
  const parsedWrapped = JSON.parse(goodWrapped);
  const withField = (obj, k, v) => JSON.stringify({ ...obj, [k]: v });
  const flip = (s) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
  const errors = [
    ['other request id', good, { request_id: 'req_other', field: 'payload' }, 'decrypt_failed'],
    ['other field', good, { request_id: 'req_01HZX', field: 'state' }, 'decrypt_failed'],
    ['tampered ciphertext', withField(parsed, 'ct', flip(parsed.ct)), ctx, 'decrypt_failed'],
    ['tampered iv', withField(parsed, 'iv', flip(parsed.iv)), ctx, 'decrypt_failed'],
    ['kid swapped to another known key', withField(parsed, 'kid', 'master-1'), ctx, 'decrypt_failed'],
    ['unknown kid', withField(parsed, 'kid', 'nobody'), ctx, 'unknown_kid'],
    ['tampered wrapped key', withField(parsedWrapped, 'ek', flip(parsedWrapped.ek)), ctx, 'unwrap_failed'],
    ['version 2', withField(parsed, 'v', 2), ctx, 'envelope_unsupported'],
    ['other algorithm', withField(parsed, 'alg', 'A128GCM'), ctx, 'envelope_unsupported'],
    ['unknown member', withField(parsed, 'x', 1), ctx, 'envelope_malformed'],
    ['missing iv', JSON.stringify({ v: 1, alg: 'A256GCM', kid: 'client-1', ct: parsed.ct }), ctx, 'envelope_malformed'],
    ['short iv', withField(parsed, 'iv', b64url(bytes(8, 1))), ctx, 'envelope_malformed'],
    ['ciphertext shorter than tag', withField(parsed, 'ct', b64url(bytes(15, 1))), ctx, 'envelope_malformed'],
    ['padded base64url', withField(parsed, 'iv', parsed.iv + '='), ctx, 'encoding'],
    ['not json', 'v=1;ct=abc', ctx, 'envelope_malformed'],
    ['array', '[1,2]', ctx, 'envelope_malformed'],
    ['duplicate member', good.replace('"v":1,', '"v":1,"v":1,'), ctx, 'envelope_malformed'],
  ];
  for (const [name, envelope, context, error] of errors) {
    cases.push({ name: `error: ${name}`, context, envelope, error });
  }
  // Legacy LetsPing form: standard base64, no AAD, opened with the legacy key.
  const lpIv = bytes(12, 9);
  const lpPt = Buffer.from('{"to":"ops@example.com","subject":"refund"}');
  const lpCt = await gcm(bytes(32, 0x33), lpIv, null, lpPt);
  cases.push({
    name: 'legacy _lp_enc', legacy: true, iv: b64url(lpIv), context: ctx, plaintext_b64url: b64url(lpPt),
    envelope: `{"_lp_enc":true,"iv":"${b64(lpIv)}","ct":"${b64(lpCt)}"}`,
  });
  cases.push({
    name: 'error: legacy with v1 fields', context: ctx, error: 'envelope_malformed',
    envelope: `{"_lp_enc":true,"v":1,"iv":"${b64(lpIv)}","ct":"${b64(lpCt)}"}`,
  });
  emit('envelope.json', {
    module: 'envelope',
    description: 'AES-256-GCM envelopes made with WebCrypto. keys: the keyring (kid, base64url key); legacy_key: the key for the _lp_enc form. Cases with plaintext_b64url: sealing with (kid, iv[, data_key], context) yields exactly envelope (except legacy, which is open-only by default) and opening yields the plaintext. Cases with error: opening envelope in context fails with that code.',
    keys, legacy_key: legacyKey, cases,
  });
}

// ---------------------------------------------------------------- webhook
function webhookVectors() {
  const hmacSecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const seed = bytes(32, 0x5a);
  const edSecret = `whsk_${b64(seed)}`;
  const edPublic = `whpk_${b64(ed25519Public(seed))}`;
  const hmacSig = (secret, id, ts, body) =>
    'v1,' + createHmac('sha256', Buffer.from(secret.slice(6), 'base64')).update(`${id}.${ts}.${body}`).digest('base64');
  const edSig = (id, ts, body) => 'v1a,' + edSign(null, Buffer.from(`${id}.${ts}.${body}`), ed25519Private(seed)).toString('base64');
  const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
  const ts = 1614265330;
  const body = '{"test": 2432232314}';
  const sign = [
    { name: 'Standard Webhooks published example', secret: hmacSecret, id, timestamp: ts, body, signature: hmacSig(hmacSecret, id, ts, body) },
    { name: 'ed25519 v1a', secret: edSecret, id, timestamp: ts, body, signature: edSig(id, ts, body) },
    { name: 'empty body', secret: hmacSecret, id: 'msg_2', timestamp: 1700000000, body: '', signature: hmacSig(hmacSecret, 'msg_2', 1700000000, '') },
  ];
  const good = sign[0].signature;
  const other = 'whsec_' + b64(bytes(32, 7));
  const v = (name, headers, extra = {}) => ({
    name, secrets: [hmacSecret], body, now: ts, tolerance: 300, headers: { id, timestamp: String(ts), signature: good, ...headers }, ...extra,
  });
  const verify = [
    v('valid', {}, { ok: true }),
    v('valid within tolerance, past', {}, { now: ts + 300, ok: true }),
    v('valid within tolerance, future', {}, { now: ts - 300, ok: true }),
    v('too old', {}, { now: ts + 301, error: 'webhook_timestamp' }),
    v('too new', {}, { now: ts - 301, error: 'webhook_timestamp' }),
    v('several signatures, one valid', { signature: `v1,${b64(bytes(32, 1))} ${good} v2,abc` }, { ok: true }),
    v('rotated secrets, second matches', {}, { secrets: [other, hmacSecret], ok: true }),
    v('wrong secret', {}, { secrets: [other], error: 'webhook_signature' }),
    v('body changed', {}, { body: '{"test": 2432232315}', error: 'webhook_signature' }),
    v('id changed', { id: 'msg_other' }, { error: 'webhook_signature' }),
    v('timestamp changed', { timestamp: String(ts + 1) }, { error: 'webhook_signature' }),
    v('unknown version only', { signature: good.replace('v1,', 'v2,') }, { error: 'webhook_signature' }),
    v('signature not base64', { signature: 'v1,@@@@' }, { error: 'webhook_signature' }),
    v('empty signature header', { signature: '' }, { error: 'webhook_header' }),
    v('timestamp not a number', { timestamp: '16142653x0' }, { error: 'webhook_header' }),
    v('negative timestamp', { timestamp: '-1614265330' }, { error: 'webhook_header' }),
    v('empty id', { id: '' }, { error: 'webhook_header' }),
    v('v1a valid with public key', { signature: sign[1].signature }, { secrets: [edPublic], ok: true }),
    v('v1a valid with private key', { signature: sign[1].signature }, { secrets: [edSecret], ok: true }),
    v('v1a body changed', { signature: sign[1].signature }, { secrets: [edPublic], body: '{}', error: 'webhook_signature' }),
    v('v1 signature against ed25519 key', {}, { secrets: [edPublic], error: 'webhook_signature' }),
    v('mixed header, ed25519 matches', { signature: `${good} ${sign[1].signature}` }, { secrets: [edPublic], ok: true }),
  ];
  // LetsPing: t=<ms>,v1=hex(HMAC-SHA256(secret, body)); the timestamp is not signed.
  const lpSecret = 'lp_whsec_test_0123456789';
  const lpBody = '{"id":"req_1","status":"APPROVED"}';
  const lpMac = createHmac('sha256', lpSecret).update(lpBody).digest('hex');
  const lpNow = 1700000000000;
  const lp = (name, header, extra = {}) => ({ name, secret: lpSecret, body: lpBody, now_ms: lpNow, tolerance_ms: 300000, header, ...extra });
  const letsping = [
    lp('valid', `t=${lpNow},v1=${lpMac}`, { ok: true }),
    lp('valid, uppercase hex and spaces', `t=${lpNow}, v1=${lpMac.toUpperCase()}`, { ok: true }),
    lp('replayed with a fresh t still verifies (documented weakness)', `t=${lpNow + 1000},v1=${lpMac}`, { ok: true }),
    lp('too old', `t=${lpNow - 300001},v1=${lpMac}`, { error: 'webhook_timestamp' }),
    lp('wrong mac', `t=${lpNow},v1=${'0'.repeat(64)}`, { error: 'webhook_signature' }),
    lp('body changed', `t=${lpNow},v1=${lpMac}`, { body: lpBody + ' ', error: 'webhook_signature' }),
    lp('missing t', `v1=${lpMac}`, { error: 'webhook_header' }),
    lp('missing v1', `t=${lpNow}`, { error: 'webhook_header' }),
  ];
  const secrets = [
    { name: 'hmac', secret: hmacSecret, ok: true },
    { name: 'ed25519 private', secret: edSecret, ok: true },
    { name: 'ed25519 public', secret: edPublic, ok: true },
    { name: 'hmac too short', secret: 'whsec_' + b64(bytes(16, 1)), error: 'invalid_key' },
    { name: 'no prefix', secret: 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', error: 'invalid_key' },
    { name: 'not base64', secret: 'whsec_%%%', error: 'encoding' },
    { name: 'public key wrong length', secret: 'whpk_' + b64(bytes(31, 1)), error: 'invalid_key' },
  ];
  emit('webhook.json', {
    module: 'webhook',
    description: 'Standard Webhooks (v1 HMAC-SHA256, v1a Ed25519) and the LetsPing t=,v1= header, computed with node:crypto. sign: signing (secret, id, timestamp, body) yields signature exactly. verify: headers checked at now with tolerance (seconds) against any of secrets: ok or error code. letsping: header verified at now_ms with tolerance_ms. secrets: parsing.',
    sign, verify, letsping, secrets,
  });
}

// ---------------------------------------------------------------- proof
function proofVectors() {
  const seed = bytes(32, 0x77);
  const kid = 'proof-2026-01';
  const jwk = { kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519', use: 'sig', kid, x: b64url(ed25519Public(seed)) };
  const request = '{"service":"stripe","action":"refund","payload":{"charge":"ch_1","amount":500}}';
  const requestCanonical = jcs(JSON.parse(request));
  const req = b64url(sha256(requestCanonical));
  const patched = '{"charge":"ch_1","amount":50}';
  const pat = b64url(sha256(jcs(JSON.parse(patched))));
  const token = (header, claims, signWith = seed) => {
    const input = `${b64url(jcs(header))}.${b64url(jcs(claims))}`;
    return `${input}.${b64url(edSign(null, Buffer.from(input), ed25519Private(signWith)))}`;
  };
  const header = { alg: 'Ed25519', kid, typ: 'handrail-proof+jws' };
  const prj = 'prj_alpha';
  const iss = 'https://handrail.example';
  const base = { rid: 'req_01HZX', req, dec: 'APPROVED', act: 'op_alice', iat: 1764000000, exp: 1764003600, jti: 'jti_0001', prj, iss };
  const edited = { ...base, dec: 'APPROVED_WITH_MODIFICATIONS', pat, jti: 'jti_0002' };
  // A proof from before prj and iss existed: verifies only when neither is expected.
  const legacy = { ...base, prj: undefined, iss: undefined, jti: 'jti_0003' };
  const sign = [
    { name: 'approved', claims: base, token: token(header, base) },
    { name: 'approved with modifications', claims: edited, token: token(header, edited) },
    { name: 'legacy, without project and issuer', claims: jcsObject(legacy), token: token(header, legacy) },
  ];
  const good = sign[0].token;
  const [h, c, s] = good.split('.');
  const expect = { request_id: 'req_01HZX', request_digest: req };
  const vf = (name, tok, extra = {}) => ({ name, token: tok, now: 1764001000, expect, ...extra });
  const verify = [
    vf('valid', good, { ok: true }),
    vf('valid with EdDSA header', token({ ...header, alg: 'EdDSA' }, base), { ok: true }),
    vf('valid with patched digest', sign[1].token, { expect: { ...expect, decision: 'APPROVED_WITH_MODIFICATIONS', patched_digest: pat }, ok: true }),
    vf('expired', good, { now: 1764003601, error: 'proof_expired' }),
    vf('issued in the future', good, { now: 1764000000 - 61, error: 'proof_expired' }),
    vf('other request id', good, { expect: { request_id: 'req_other' }, error: 'proof_mismatch' }),
    vf('other request digest', good, { expect: { ...expect, request_digest: b64url(sha256('{}')) }, error: 'proof_mismatch' }),
    vf('other decision', good, { expect: { ...expect, decision: 'REJECTED' }, error: 'proof_mismatch' }),
    vf('alg none', `${b64url(jcs({ alg: 'none', kid }))}.${c}.`, { error: 'proof_algorithm' }),
    vf('alg HS256', `${b64url(jcs({ alg: 'HS256', kid }))}.${c}.${s}`, { error: 'proof_algorithm' }),
    vf('claims tampered', `${h}.${b64url(jcs({ ...base, dec: 'REJECTED' }))}.${s}`, { error: 'proof_signature' }),
    vf('signed by another key', token(header, base, bytes(32, 0x78)), { error: 'proof_signature' }),
    vf('unknown kid', token({ ...header, kid: 'other' }, base), { error: 'unknown_kid' }),
    vf('two parts', `${h}.${c}`, { error: 'proof_malformed' }),
    vf('four parts', `${good}.x`, { error: 'proof_malformed' }),
    vf('signature not base64url', `${h}.${c}.***`, { error: 'encoding' }),
    vf('signature wrong length', `${h}.${c}.${b64url(bytes(32, 1))}`, { error: 'proof_malformed' }),
    vf('claims missing jti', token(header, { ...base, jti: undefined }), { error: 'proof_malformed' }),
    vf('valid for its project and issuer', good, { expect: { ...expect, project: prj, issuer: iss }, ok: true }),
    vf('project A verified as project B', good, { expect: { ...expect, project: 'prj_beta' }, error: 'proof_project' }),
    vf('other issuer', good, { expect: { ...expect, issuer: 'https://other.example' }, error: 'proof_issuer' }),
    vf('issuer id instead of URL', good, { expect: { ...expect, issuer: 'srv_handrail' }, error: 'proof_issuer' }),
    vf('legacy proof, nothing expected', sign[2].token, { ok: true }),
    vf('legacy proof, project expected', sign[2].token, { expect: { ...expect, project: prj }, error: 'proof_project' }),
    vf('legacy proof, issuer expected', sign[2].token, { expect: { ...expect, issuer: iss }, error: 'proof_issuer' }),
    vf('missing prj, project expected', token(header, { ...base, prj: undefined }), { expect: { ...expect, project: prj, issuer: iss }, error: 'proof_project' }),
    vf('audit checkpoint typ is not a proof', token({ ...header, typ: 'handrail-audit+jws' }, base), { error: 'proof_malformed' }),
  ];
  emit('proof.json', {
    module: 'proof',
    description: 'Decision proofs (JWS compact, Ed25519) computed with node:crypto. seed: the signer\'s 32-byte Ed25519 seed (base64url); jwks: its public key. digests: SHA-256 (base64url) of the canonical JSON. sign: signing claims with (kid, seed) yields token exactly. verify: token checked at now against expect (project and issuer, when present, must be the claims\' prj and iss): ok or error code.',
    kid, seed: b64url(seed), jwks: { keys: [jwk] },
    digests: [{ json: request, digest: req }, { json: patched, digest: pat }],
    sign, verify,
  });
}

// ---------------------------------------------------------------- idempotency
function idempotencyVectors() {
  const derive = (parts) => 'idk_' + b64url(sha256(lengthPrefixed(parts)));
  const keys = [
    { name: 'two parts', parts: ['agent_1', 'send_email'], key: derive(['agent_1', 'send_email']) },
    { name: 'parts do not run together', parts: ['ab', 'c'], key: derive(['ab', 'c']) },
    { name: 'parts do not run together (2)', parts: ['a', 'bc'], key: derive(['a', 'bc']) },
    { name: 'empty part', parts: ['', 'x'], key: derive(['', 'x']) },
  ];
  const toolArgs = '{ "to": "bob@example.com", "amount": 1.50, "memo": "\\u00e9" }';
  const toolCalls = [
    { name: 'canonicalized arguments', scope: 'agent_1', tool: 'send_money', args: toolArgs,
      key: derive(['agent_1', 'send_money', jcs({ amount: 1.5, memo: 'é', to: 'bob@example.com' })]) },
    { name: 'invalid arguments', scope: 'agent_1', tool: 'send_money', args: '{"a":1,"a":2}', error: 'duplicate_key' },
  ];
  const fp = (method, path, canonicalBody) => hex(sha256(lengthPrefixed([method, path, canonicalBody])));
  const fingerprints = [
    { name: 'post with body', method: 'POST', path: '/v1/requests', body: '{"b": 1, "a": [1, 2]}', fingerprint: fp('POST', '/v1/requests', '{"a":[1,2],"b":1}') },
    { name: 'method is uppercased', method: 'post', path: '/v1/requests', body: '{"a":[1,2],"b":1}', fingerprint: fp('POST', '/v1/requests', '{"a":[1,2],"b":1}') },
    { name: 'empty body', method: 'GET', path: '/v1/requests/req_1', body: '', fingerprint: fp('GET', '/v1/requests/req_1', '') },
    { name: 'body not JSON', method: 'POST', path: '/v1/requests', body: '{"a":', error: 'json_syntax' },
  ];
  const A = '{"service":"stripe","action":"refund","payload":{"amount":5}}';
  const A2 = '{ "payload": {"amount": 5}, "action": "refund", "service": "stripe" }';
  const B = '{"service":"stripe","action":"refund","payload":{"amount":6}}';
  const req = (body, now, expect, extra = {}) => ({ op: 'begin', method: 'POST', path: '/v1/requests', body, now, expect, ...extra });
  const scenarios = [
    { name: 'first run, replay, mismatch', lease: 30, key: 'key-1', steps: [
      req(A, 100, 'proceed', { attempts: 1 }),
      req(A2, 101, 'conflict', { lease_until: 130 }),
      req(B, 102, 'mismatch', { status: 422 }),
      { op: 'commit', now: 103, result: { status: 201, body: '{"id":"req_1"}' } },
      req(A2, 500, 'replay', { result: { status: 201, body: '{"id":"req_1"}' } }),
      req(B, 501, 'mismatch', { status: 422 }),
      { op: 'commit', now: 502, result: { status: 201, body: '{}' }, error: 'invalid_transition' },
    ] },
    { name: 'lease expiry lets another worker take over', lease: 30, key: 'key-2', steps: [
      req(A, 100, 'proceed', { attempts: 1 }),
      req(A, 129, 'conflict', { lease_until: 130, status: 409 }),
      req(A, 130, 'proceed', { attempts: 2 }),
      { op: 'commit', now: 131, result: { status: 200, body: '"done"' } },
      req(A, 132, 'replay', { result: { status: 200, body: '"done"' } }),
    ] },
    { name: 'retryable failure runs again, final failure replays', lease: 30, key: 'key-3', steps: [
      req(A, 100, 'proceed', { attempts: 1 }),
      { op: 'fail', now: 101, retryable: true, result: { status: 503, body: '{"error":"upstream"}' } },
      req(A, 102, 'proceed', { attempts: 2 }),
      { op: 'fail', now: 103, retryable: false, result: { status: 400, body: '{"error":"card_declined"}' } },
      req(A, 104, 'replay', { result: { status: 400, body: '{"error":"card_declined"}' } }),
    ] },
    { name: 'invalid keys', lease: 30, key: '', steps: [req(A, 100, 'error', { error: 'idempotency_key' })] },
    { name: 'key with a control character', lease: 30, key: 'a\nb', steps: [req(A, 100, 'error', { error: 'idempotency_key' })] },
    { name: 'key too long', lease: 30, key: 'k'.repeat(256), steps: [req(A, 100, 'error', { error: 'idempotency_key' })] },
  ];
  emit('idempotency.json', {
    module: 'idempotency',
    description: 'Key derivation (idk_ + base64url SHA-256 of 8-byte big-endian length-prefixed parts), tool-call keys (scope, tool, canonical args), request fingerprints (hex SHA-256 of length-prefixed METHOD, path, canonical body), and the execution state machine: each scenario replays steps against one stored execution under key; begin expects proceed | replay | conflict | mismatch | error.',
    keys, tool_calls: toolCalls, fingerprints, scenarios,
  });
}

// ---------------------------------------------------------------- request
function requestVectors() {
  const diffs = [
    { name: 'scalar change', before: { amount: 500, to: 'acct_1' }, after: { amount: 50, to: 'acct_1' },
      ops: [{ op: 'replace', path: '/amount', value: 50 }], summary: 'amount: 500 → 50' },
    { name: 'member added and removed', before: { a: 1, note: 'x' }, after: { a: 1, memo: 'y' },
      ops: [{ op: 'remove', path: '/note' }, { op: 'add', path: '/memo', value: 'y' }], summary: 'removed note; added memo = "y"' },
    { name: 'array shortened and lengthened', before: { cc: ['a', 'b', 'c'], to: ['x'] }, after: { cc: ['a'], to: ['x', 'y'] },
      ops: [{ op: 'remove', path: '/cc/2' }, { op: 'remove', path: '/cc/1' }, { op: 'add', path: '/to/1', value: 'y' }],
      summary: 'removed cc.2; removed cc.1; added to.1 = "y"' },
    { name: 'nested and escaped names', before: { 'a/b': { 'c~d': 1 } }, after: { 'a/b': { 'c~d': 2 } },
      ops: [{ op: 'replace', path: '/a~1b/c~0d', value: 2 }], summary: 'a/b.c~d: 1 → 2' },
    { name: 'type change', before: { v: [1] }, after: { v: { x: 1 } }, ops: [{ op: 'replace', path: '/v', value: { x: 1 } }], summary: 'v: [1] → {"x":1}' },
    { name: 'whole document', before: [1], after: 'x', ops: [{ op: 'replace', path: '', value: 'x' }], summary: 'payload: [1] → "x"' },
    { name: 'no change', before: { a: [1, { b: null }] }, after: { a: [1, { b: null }] }, ops: [], summary: 'no changes' },
  ];
  const schema = {
    type: 'object', required: ['to', 'amount'], additionalProperties: false,
    properties: { to: { type: 'string', pattern: '^acct_' }, amount: { type: 'number', exclusiveMinimum: 0, maximum: 1000 }, memo: { type: 'string', maxLength: 20 } },
  };
  const validation = [
    { name: 'valid edit', schema, payload: { to: 'acct_9', amount: 50 }, ok: true },
    { name: 'above maximum', schema, payload: { to: 'acct_9', amount: 5000 }, error: 'edit_invalid' },
    { name: 'missing required', schema, payload: { to: 'acct_9' }, error: 'edit_invalid' },
    { name: 'extra member', schema, payload: { to: 'acct_9', amount: 5, cc: 'x' }, error: 'edit_invalid' },
    { name: 'pattern', schema, payload: { to: 'iban_1', amount: 5 }, error: 'edit_invalid' },
    { name: 'invalid schema', schema: { type: 'object', properties: { a: { type: 7 } } }, payload: {}, error: 'schema_invalid' },
  ];
  const statuses = [
    ...['PENDING', 'APPROVED', 'APPROVED_WITH_MODIFICATIONS', 'REJECTED', 'EXPIRED'].map((s) => ({ input: s, value: s })),
    { input: 'approved', value: 'APPROVED' }, { input: 'DENIED', error: 'unknown_variant' },
  ];
  const priorities = [
    ...['low', 'medium', 'high', 'critical'].map((p) => ({ input: p, value: p })),
    { input: 'HIGH', value: 'high' }, { input: 'urgent', error: 'unknown_variant' },
  ];
  // Bidi controls and invisible format characters (general category Cf), listed here
  // independently of the core's table: refused in names at create, revealed as <U+XXXX> in
  // values.
  const invisible = [0x202A, 0x202E, 0x2066, 0x2069, 0x200E, 0x200F, 0x061C, 0x200B, 0x200D, 0x2060, 0x2064, 0xFEFF, 0x00AD, 0x180E, 0xE0001, 0xE0041, 0xE007F];
  const reveal = (text) => [...text].map((c) => (invisible.includes(c.codePointAt(0)) || /\p{Cf}/u.test(c)
    ? `<U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}>` : c)).join('');
  const base = { service: 'stripe', action: 'refund', payload: { to: 'acct_1' } };
  const names = [
    { name: 'plain names', request: base, ok: true },
    { name: 'non-ASCII names are fine', request: { ...base, service: 'zürich-東京', payload: { 'montant €': 1 } }, ok: true },
    { name: 'an invisible character in a value is allowed', request: { ...base, payload: { to: 'acct_\u202E1' } }, ok: true },
    ...invisible.map((cp) => ({
      name: `U+${cp.toString(16).toUpperCase().padStart(4, '0')} in service`,
      request: { ...base, service: `pay${String.fromCodePoint(cp)}out` }, error: 'invisible_character',
    })),
    { name: 'in action', request: { ...base, action: 'ref\u200Bund' }, error: 'invisible_character' },
    { name: 'in role', request: { ...base, role: 'fin\u202Eance' }, error: 'invisible_character' },
    { name: 'in a payload member name', request: { ...base, payload: { 'to\u2067': 'acct_1' } }, error: 'invisible_character' },
    { name: 'in a nested payload member name', request: { ...base, payload: { a: [{ b: { 'c\uFEFF': 1 } }] } }, error: 'invisible_character' },
    { name: 'in a schema member name', request: { ...base, schema: { type: 'object', properties: { 'to\u00AD': { type: 'string' } } } }, error: 'invisible_character' },
    { name: 'in a context member name', request: { ...base, context: { ['trace\u{E0041}']: 1 } }, error: 'invisible_character' },
  ];
  for (const c of names) {
    const r = c.request;
    const keys = (v) => (Array.isArray(v) ? v.flatMap(keys) : v && typeof v === 'object' ? Object.entries(v).flatMap(([k, x]) => [k, ...keys(x)]) : []);
    const all = [r.service, r.action, r.role ?? '', ...keys([r.payload, r.schema, r.context])].join('');
    const found = [...all].some((ch) => reveal(ch) !== ch);
    if (found !== (c.error === 'invisible_character')) throw new Error(`names vector ${c.name} is inconsistent`);
  }
  const reveals = [
    'acct_42', 'acct_\u202E24', 'Zürich 🚀', '\u200B\u{E0041}x\u00AD', 'a\u2066b\u2069c', 'line\nbreak\u2028',
  ].map((input) => ({ input, output: reveal(input) }));
  emit('request.json', {
    module: 'request',
    description: 'Edit diffs (RFC 6902 ops in order, and the summary line), edit validation against JSON Schema, status/priority names, requests refused at create for a bidi control or invisible format character in a name (names: the NewRequest body, ok or the error code), and the escaping of such characters in values as <U+XXXX> (reveal).',
    diffs, validation, statuses, priorities, names, reveal: reveals,
  });
}

// ---------------------------------------------------------------- guard
// The guard's rules (core/src/guard.rs), written here independently: keys with
// node:crypto, plans and outcomes from the rules as the SDK docs state them.
function guardVectors() {
  const derive = (parts) => 'idk_' + b64url(sha256(lengthPrefixed(parts)));
  const key = (scope, service, tool, args) => derive(['handrail.guard.v1', scope, service, tool, jcs(args)]);
  const keys = [
    { name: 'arguments canonicalized', scope: 'run-1', service: 'billing', tool: 'refund',
      args: '{ "order": "o_1", "amount": 500.0 }', key: key('run-1', 'billing', 'refund', { amount: 500, order: 'o_1' }) },
    { name: 'another run', scope: 'run-2', service: 'billing', tool: 'refund',
      args: '{"amount":500,"order":"o_1"}', key: key('run-2', 'billing', 'refund', { amount: 500, order: 'o_1' }) },
    { name: 'another agent', scope: 'run-1', service: 'support', tool: 'refund',
      args: '{"amount":500,"order":"o_1"}', key: key('run-1', 'support', 'refund', { amount: 500, order: 'o_1' }) },
    { name: 'empty scope', scope: '', service: 'agent', tool: 'lookup', args: '{}', key: key('', 'agent', 'lookup', {}) },
    { name: 'invalid arguments', scope: 'run-1', service: 'billing', tool: 'refund', args: '{"a":1,"a":2}', error: 'duplicate_key' },
  ];
  // Every mode × action × decision: the plan, whether the tool runs, what is recorded.
  const calls = [];
  for (const mode of ['shadow', 'enforce']) {
    for (const action of ['allow', 'review', 'block']) {
      const enforced = mode === 'enforce';
      const plan = action === 'allow' ? 'run' : !enforced ? 'shadow' : action === 'block' ? 'block' : 'ask';
      if (plan !== 'ask') {
        calls.push({ name: `${mode} ${action}`, mode, action, enforced, decision: null, plan,
          runs: plan !== 'block', outcome: plan === 'block' ? null : 'ran' });
        continue;
      }
      for (const decision of ['APPROVED', 'APPROVED_WITH_MODIFICATIONS', 'REJECTED', 'EXPIRED']) {
        const approved = decision.startsWith('APPROVED');
        calls.push({ name: `${mode} ${action} ${decision}`, mode, action, enforced, decision, plan,
          runs: approved, outcome: approved ? 'approved' : 'rejected' });
      }
      for (const decision of ['PENDING', null]) {
        calls.push({ name: `${mode} ${action} ${decision ?? "no decision"} (not final)`, mode, action, enforced, decision, plan,
          runs: false, error: 'invalid_options' });
      }
    }
  }
  const reasons = [{ code: 'policy_review', text: 'refund always needs a person' }];
  const contexts = [
    { name: 'with the task', verdict: { action: 'review', score: 1, reasons, enforced: true }, task: 'refund order o_1',
      context: { firewall: { action: 'review', score: 1, reasons }, task: 'refund order o_1' } },
    { name: 'without a task', verdict: { action: 'review', score: 0.75, reasons: [], enforced: true }, task: null,
      context: { firewall: { action: 'review', score: 0.75, reasons: [] } } },
    { name: 'an empty task is none', verdict: { action: 'review', score: 0.5, reasons, enforced: true }, task: '',
      context: { firewall: { action: 'review', score: 0.5, reasons } } },
  ];
  const k = key('run-1', 'billing', 'refund', { amount: 500, order: 'o_1' });
  const observations = [
    { name: 'a call that ran', input: { key: k, session: 'run-1', tool: 'refund', args: { order: 'o_1', amount: 500 }, outcome: 'ran', at: 1700000000 },
      event: { id: `${k}:ran`, session: 'run-1', tool: 'refund', args: { order: 'o_1', amount: 500 }, outcome: 'ran', at: 1700000000 } },
    { name: 'approved, with task, effect and output', input: { key: k, session: 'run-1', tool: 'refund', args: { order: 'o_1', amount: 50 },
      outcome: 'approved', at: 1700000001, context: 'refund order o_1', effect: 'payment', output: 'refunded 50 on o_1' },
      event: { id: `${k}:approved`, session: 'run-1', tool: 'refund', args: { order: 'o_1', amount: 50 }, outcome: 'approved', at: 1700000001,
        context: 'refund order o_1', effect: 'payment', output: 'refunded 50 on o_1' } },
    { name: 'rejected, empty task left out', input: { key: k, session: 'run-1', tool: 'refund', args: { order: 'o_1', amount: 500 },
      outcome: 'rejected', at: 1700000002, context: '' },
      event: { id: `${k}:rejected`, session: 'run-1', tool: 'refund', args: { order: 'o_1', amount: 500 }, outcome: 'rejected', at: 1700000002 } },
    { name: 'arguments that are not an object are sent as {}', input: { key: k, session: 's', tool: 'ping', args: [1, 2], outcome: 'ran', at: 5 },
      event: { id: `${k}:ran`, session: 's', tool: 'ping', args: {}, outcome: 'ran', at: 5 } },
  ];
  const texts = [
    { name: 'approved', status: 'APPROVED', reason: null, summary: null, payload: { amount: 500 }, text: 'APPROVED' },
    { name: 'approved with edits', status: 'APPROVED_WITH_MODIFICATIONS', reason: null, summary: 'amount: 500 → 50',
      payload: { order: 'o_1', amount: 50 }, text: `APPROVED WITH EDITS: amount: 500 → 50; use these values: ${jcs({ amount: 50, order: 'o_1' })}` },
    { name: 'edits without a summary', status: 'APPROVED_WITH_MODIFICATIONS', reason: null, summary: '',
      payload: { note: 'café' }, text: 'APPROVED WITH EDITS: edited; use these values: {"note":"café"}' },
    { name: 'rejected', status: 'REJECTED', reason: 'too risky', summary: null, payload: null, text: 'REJECTED: too risky' },
    { name: 'rejected without a reason', status: 'REJECTED', reason: null, summary: null, payload: null, text: 'REJECTED: no reason given' },
    { name: 'an empty reason is none', status: 'REJECTED', reason: '', summary: null, payload: null, text: 'REJECTED: no reason given' },
    { name: 'expired', status: 'EXPIRED', reason: 'nobody decided', summary: null, payload: null, text: 'EXPIRED: do not act' },
    { name: 'pending', status: 'PENDING', reason: null, summary: null, payload: null, text: 'PENDING: do not act' },
  ];
  emit('guard.json', {
    module: 'guard',
    description: 'The guard before each tool call (core/src/guard.rs). keys: idk_ + base64url SHA-256 (node:crypto) of length-prefixed "handrail.guard.v1", scope, service, tool, canonical args. calls: mode x verdict action x decision -> plan (run | shadow | block | ask), whether the tool runs, the outcome the firewall records (null: nothing) or an error code. contexts: the review request context for a verdict and task text. observations: the POST /v1/observations event for a recorded call. texts: what a model reads for a decision.',
    keys, calls, contexts, observations, texts,
  });
}

await envelopeVectors();
webhookVectors();
proofVectors();
idempotencyVectors();
requestVectors();
guardVectors();

let stale = [];
for (const [name, text] of Object.entries(outputs)) {
  const path = join(here, name);
  if (check) {
    let current = '';
    try { current = readFileSync(path, 'utf8'); } catch {}
    if (current !== text) stale.push(name);
  } else {
    writeFileSync(path, text);
  }
}
if (stale.length) {
  console.error(`vectors out of date (node tests/vectors/generate.mjs): ${stale.join(', ')}`);
  process.exit(1);
}
console.log(check ? `vectors: ${Object.keys(outputs).length} files match node:crypto` : `wrote ${Object.keys(outputs).join(', ')}`);
