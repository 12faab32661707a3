// Decision proofs and edits on both builds: every case of tests/vectors/proof.json
// (digests, the signed tokens, verification) and of request.json's diffs (diff and
// applyPatch) and validations (validateEdit and reviewEdit, when built with them).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { expectHandrailError, expectPlainError, loadBuilds, readVectors } from './_builds.mjs';

const builds = await loadBuilds();
const proofs = readVectors('proof');
const requests = readVectors('request');

/** A vector's `expect` (snake_case) as ProofVerifier.verify takes it. */
function expectOf(e) {
  const out = { requestId: e.request_id };
  if (e.request_digest) out.requestDigest = e.request_digest;
  if (e.decision) out.decision = e.decision;
  if (e.patched_digest) out.patchedDigest = e.patched_digest;
  if (e.project) out.project = e.project;
  if (e.issuer) out.issuer = e.issuer;
  return out;
}

test('the vectors have cases', () => {
  assert.ok(proofs.digests.length > 0 && proofs.sign.length > 0 && proofs.verify.length > 0);
  assert.ok(proofs.verify.some((c) => c.ok) && proofs.verify.some((c) => c.error));
  assert.ok(requests.diffs.length > 0 && requests.validation.length > 0);
});

for (const [build, api] of Object.entries(builds)) {
  describe(`proof vectors (${build} build)`, () => {
    const verifier = new api.ProofVerifier(JSON.stringify(proofs.jwks));
    for (const c of proofs.digests) {
      test(`digest of ${c.json.slice(0, 40)}`, () => {
        assert.equal(api.proofDigest(c.json), c.digest);
        assert.equal(api.proofDigest(new TextEncoder().encode(c.json)), c.digest);
      });
    }
    for (const c of proofs.sign) {
      test(`signed token "${c.name}" verifies to its claims`, () => {
        const claims = verifier.verify(c.token, c.claims.iat, { requestId: c.claims.rid, decision: c.claims.dec });
        assert.deepEqual(claims, c.claims);
      });
    }
    for (const c of proofs.verify) {
      test(`verify: ${c.name}`, () => {
        if (c.ok) {
          const claims = verifier.verify(c.token, c.now, expectOf(c.expect));
          assert.equal(claims.rid, c.expect.request_id);
          assert.ok(claims.iat <= c.now && c.now <= claims.exp);
          if (c.expect.patched_digest) assert.equal(claims.pat, c.expect.patched_digest);
          if (c.expect.project) assert.equal(claims.prj, c.expect.project);
          if (c.expect.issuer) assert.equal(claims.iss, c.expect.issuer);
        } else {
          expectHandrailError(() => verifier.verify(c.token, c.now, expectOf(c.expect)), c.error);
        }
      });
    }
    test('bad JWKS, a missing requestId and a fractional now', () => {
      expectHandrailError(() => new api.ProofVerifier('{"keys":[{"kty":"oct"}]}'), 'invalid_key');
      expectHandrailError(() => new api.ProofVerifier('{'), 'json_syntax');
      const token = proofs.sign[0].token;
      expectPlainError(() => verifier.verify(token, 1764000000, {}), TypeError);
      expectPlainError(() => verifier.verify(token, 1.5, { requestId: 'r' }), RangeError);
      expectHandrailError(() => api.proofDigest('{"a":1,"a":2}'), 'duplicate_key');
      assert.equal(verifier.verify(token, 1764000000, { requestId: proofs.sign[0].claims.rid }).jti, proofs.sign[0].claims.jti);
    });
  });

  describe(`request vectors (${build} build)`, () => {
    for (const c of requests.diffs) {
      test(`diff and apply: ${c.name}`, () => {
        const before = JSON.stringify(c.before);
        const d = api.diff(before, JSON.stringify(c.after));
        assert.deepEqual(d, { ops: c.ops, summary: c.summary });
        assert.deepEqual(JSON.parse(api.applyPatch(before, JSON.stringify(d.ops))), c.after);
      });
    }
    for (const c of requests.reveal) {
      test(`revealInvisible → ${JSON.stringify(c.output)}`, () => assert.equal(api.revealInvisible(c.input), c.output));
    }
    test('bad patches and JSON', () => {
      expectHandrailError(() => api.applyPatch('{"a":1}', '[{"op":"move","from":"/a","path":"/b"}]'), 'invalid_request');
      expectHandrailError(() => api.applyPatch('{"a":1}', '[{"op":"remove","path":"/zz"}]'), 'edit_invalid');
      expectHandrailError(() => api.diff('{', '{}'), 'json_syntax');
      assert.equal(api.diff('{}', '{}').summary, 'no changes');
    });

    const schema = typeof api.reviewEdit === 'function';
    for (const c of requests.validation) {
      test(`validate and review: ${c.name}`, { skip: !schema && 'built without the "schema" feature' }, () => {
        const [s, edited] = [JSON.stringify(c.schema), JSON.stringify(c.payload)];
        if (c.ok) {
          api.validateEdit(s, edited);
          assert.deepEqual(api.reviewEdit(edited, edited, s), { ops: [], summary: 'no changes' });
        } else {
          expectHandrailError(() => api.validateEdit(s, edited), c.error);
          expectHandrailError(() => api.reviewEdit('{}', edited, s), c.error);
        }
      });
    }
    test('validateEdit and reviewEdit are exported exactly when built with the schema feature', () => {
      assert.equal(typeof api.validateEdit, typeof api.reviewEdit);
      if (!schema) assert.equal(api.validateEdit, undefined);
    });
  });
}
