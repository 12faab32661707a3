// The behavioral firewall (Firewall, FirewallSession) on both wasm-bindgen builds: the shared
// verdict vectors in tests/vectors/firewall.json, replayed exactly as core/tests/firewall.rs
// (`shared_vectors`) does, then the profile's binary form, the graph and the arguments.
// Build both first: scripts/test-wasm.sh.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';

const require = createRequire(import.meta.url);
const pkgDir = new URL('../pkg/', import.meta.url);
const doc = JSON.parse(readFileSync(new URL('../../tests/vectors/firewall.json', import.meta.url), 'utf8'));
assert.equal(doc.module, 'firewall');
assert.ok(doc.cases.length > 0, 'firewall.json has no cases');
const NOW = doc.now;

async function loadBuilds() {
  const node = require(new URL('node/handrail_wasm.js', pkgDir).pathname);
  const web = await import(new URL('web/handrail_wasm.js', pkgDir).href);
  await web.default({ module_or_path: readFileSync(new URL('web/handrail_wasm_bg.wasm', pkgDir)) });
  return { node, web };
}

const builds = await loadBuilds();

function expectHandrailError(fn, code) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof Error, `threw a non-Error: ${typeof err} ${String(err)}`);
    assert.equal(err.name, 'HandrailError');
    assert.equal(err.code, code);
    assert.ok(err.message.length > 0);
    return true;
  });
}

function expectPlainError(fn, type) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${err?.name}: ${err?.message}`);
    assert.equal(err.code, undefined);
    return true;
  });
}

/** The policy of the vectors: the `tools` declared effects. */
const policy = { effects: Object.fromEntries(Object.entries(doc.tools).map(([tool, spec]) => [tool, spec.effect])) };

/** Records every session as trusted (honest history), as the core's `train`. */
function train(fw, sessions) {
  for (const s of sessions) {
    const state = fw.begin(s.session, s.context);
    for (const c of s.calls) {
      fw.record(state, c.tool, JSON.stringify(c.args), 'trusted', c.output ?? null, NOW, c.effect ?? null);
    }
    state.free();
  }
}

/** A firewall trained on the vectors' honest sessions, in enforce mode. */
function trained(api) {
  const fw = new api.Firewall(policy);
  train(fw, doc.train);
  fw.mode = 'enforce';
  return fw;
}

/** The verdict on each call of one session judged alone, as the core's `judge`. */
function judge(fw, session) {
  const state = fw.begin('test', session.context);
  const out = [];
  for (const c of session.calls) {
    const v = fw.check(state, c.tool, JSON.stringify(c.args), NOW, c.effect ?? null);
    assert.equal(v.enforced, true);
    assert.ok(v.score >= 0 && v.score <= 1, `score ${v.score}`);
    assert.ok(v.reasons.every((r) => typeof r.text === 'string' && r.text.length > 0));
    out.push(v);
    fw.observe(state, c.tool, JSON.stringify(c.args), c.output ?? null, c.effect ?? null);
  }
  state.free();
  return out;
}

const sorted = (codes) => [...new Set(codes)].sort();

for (const [build, api] of Object.entries(builds)) {
  describe(`firewall vectors (${build} build)`, () => {
    const fw = trained(api);
    for (const c of doc.cases) {
      test(c.name, () => {
        const got = judge(fw, c.session).map((v) => ({ action: v.action, codes: sorted(v.reasons.map((r) => r.code)) }));
        const want = c.expect.map((e) => ({ action: e.action, codes: sorted(e.codes) }));
        assert.deepEqual(got, want);
      });
    }
  });

  describe(`firewall profile (${build} build)`, () => {
    const fw = trained(api);
    const judgeAll = (f) => doc.cases.map((c) => judge(f, c.session));

    test('profile bytes round trip', () => {
      const bytes = fw.profileBytes();
      assert.ok(bytes instanceof Uint8Array);
      assert.ok(bytes.length > 0);
      const copy = new api.Firewall(policy, null, 'enforce');
      copy.loadProfile(bytes);
      assert.equal(copy.profileBytes().length, bytes.length);
      assert.deepEqual(copy.graph(NOW), fw.graph(NOW));
      assert.deepEqual(copy.readiness(), fw.readiness());
      assert.deepEqual(judgeAll(copy), judgeAll(fw));
    });

    test('two halves merged judge like one profile', () => {
      const half = Math.floor(doc.train.length / 2);
      const merged = new api.Firewall(policy);
      const other = new api.Firewall(policy);
      train(merged, doc.train.slice(0, half));
      train(other, doc.train.slice(half));
      merged.mergeProfile(other.profileBytes());
      merged.mode = 'enforce';
      assert.deepEqual(judgeAll(merged), judgeAll(fw));
    });

    test('corrupt bytes throw profile_corrupt and leave the profile as it was', () => {
      const bytes = fw.profileBytes();
      const copy = new api.Firewall(policy, null, 'enforce');
      copy.loadProfile(bytes);
      const flipped = Uint8Array.from(bytes);
      flipped[0] ^= 0xff;
      for (const bad of [new Uint8Array(0), bytes.subarray(0, bytes.length - 1), flipped, Uint8Array.of(1, 2, 3)]) {
        expectHandrailError(() => copy.loadProfile(bad), 'profile_corrupt');
        expectHandrailError(() => copy.mergeProfile(bad), 'profile_corrupt');
      }
      assert.deepEqual(copy.profileBytes(), copy.profileBytes());
      assert.equal(copy.profileBytes().length, bytes.length);
      assert.deepEqual(copy.graph(NOW), fw.graph(NOW));
    });

    test('profile bytes that are not a Uint8Array are a TypeError', () => {
      for (const bad of [null, undefined, 'abc', [1, 2], new ArrayBuffer(4)]) {
        expectPlainError(() => fw.loadProfile(bad), TypeError);
        expectPlainError(() => fw.mergeProfile(bad), TypeError);
      }
    });

    test('graph shape', () => {
      const g = fw.graph(NOW);
      assert.deepEqual(Object.keys(g).sort(), ['edges', 'nodes']);
      const effects = new Set(['read', 'write', 'destructive', 'egress', 'payment']);
      g.nodes.forEach((n, i) => {
        assert.deepEqual(Object.keys(n).sort(), ['effect', 'id', 'tool']);
        assert.equal(n.id, i);
        assert.ok(n.tool === '^' ? n.effect === null : effects.has(n.effect), JSON.stringify(n));
      });
      const byTool = Object.fromEntries(g.nodes.map((n) => [n.tool, n]));
      assert.deepEqual(Object.keys(byTool).sort(), ['^', 'http_get', 'read_invoice', 'send_email', 'send_money']);
      assert.equal(byTool.read_invoice.effect, 'read');
      assert.equal(byTool.send_money.effect, 'payment');
      assert.equal(byTool.http_get.effect, 'read');
      const out = new Map();
      for (const e of g.edges) {
        assert.deepEqual(Object.keys(e).sort(), ['count', 'from', 'p', 'to']);
        assert.ok(g.nodes[e.from] && g.nodes[e.to], JSON.stringify(e));
        assert.notEqual(e.to, byTool['^'].id, 'nothing leads back to the start');
        assert.ok(e.p > 0 && e.p <= 1, JSON.stringify(e));
        assert.ok(Number.isInteger(e.count) && e.count > 0, JSON.stringify(e));
        out.set(e.from, (out.get(e.from) ?? 0) + e.p);
      }
      // Undecayed at the training time: the steps after each tool are a distribution.
      for (const [from, p] of out) assert.ok(Math.abs(p - 1) < 1e-9, `${g.nodes[from].tool}: ${p}`);
      const edge = (a, b) => g.edges.find((e) => e.from === byTool[a].id && e.to === byTool[b].id);
      assert.equal(edge('^', 'read_invoice').count, 3);
      assert.equal(edge('^', 'http_get').count, 1);
      assert.equal(edge('read_invoice', 'send_money').count, 3);
      assert.equal(edge('send_money', 'read_invoice'), undefined);
    });

    test('readiness', () => {
      const r = fw.readiness();
      assert.deepEqual(Object.keys(r).sort(), ['novelty', 'observations', 'ready', 'transitions']);
      assert.ok(r.observations > 0 && r.transitions > 0 && r.novelty >= 0 && r.novelty <= 1);
      assert.deepEqual(new api.Firewall().readiness(), { novelty: 1, observations: 0, transitions: 0, ready: false });
      assert.deepEqual(new api.Firewall().graph(NOW), { nodes: [{ id: 0, tool: '^', effect: null }], edges: [] });
    });
  });

  describe(`firewall arguments (${build} build)`, () => {
    const honest = doc.cases[0].session;
    const pay = honest.calls.find((c) => c.tool === 'send_money');

    test('mode defaults to shadow; shadow verdicts are not enforced', () => {
      const fw = new api.Firewall(policy);
      assert.equal(fw.mode, 'shadow');
      const s = fw.begin('s1', honest.context);
      assert.equal(s.id, 's1');
      const v = fw.check(s, 'delete_everything', '{}', NOW);
      assert.equal(v.enforced, false);
      assert.equal(v.action, 'review');
      assert.deepEqual(v.reasons.map((r) => r.code), ['tool_new']);
      fw.mode = 'enforce';
      assert.equal(fw.mode, 'enforce');
      assert.equal(fw.check(s, 'delete_everything', '{}', NOW).enforced, true);
      assert.equal(new api.Firewall(null, null, 'enforce').mode, 'enforce');
    });

    test('unknown mode, outcome and effect strings are unknown_variant', () => {
      const fw = new api.Firewall();
      const s = fw.begin('s', 'task');
      expectHandrailError(() => new api.Firewall(null, null, 'strict'), 'unknown_variant');
      expectHandrailError(() => { fw.mode = 'Enforce!'; }, 'unknown_variant');
      assert.equal(fw.mode, 'shadow');
      expectHandrailError(() => fw.record(s, 'send_money', '{}', 'maybe', null, NOW), 'unknown_variant');
      expectHandrailError(() => fw.check(s, 'send_money', '{}', NOW, 'teleport'), 'unknown_variant');
      expectHandrailError(() => fw.observe(s, 'send_money', '{}', null, 'teleport'), 'unknown_variant');
    });

    test('args as JSON text, UTF-8 bytes or a value give the same verdict', () => {
      const fw = trained(api);
      const s = fw.begin('s', 'Pay invoice INV-77');
      const text = JSON.stringify(pay.args);
      const want = fw.check(s, pay.tool, text, NOW);
      assert.equal(want.action, 'review');
      assert.deepEqual(fw.check(s, pay.tool, pay.args, NOW), want);
      assert.deepEqual(fw.check(s, pay.tool, new TextEncoder().encode(text), NOW), want);
    });

    test('malformed args are HandrailErrors with the canonical codes', () => {
      const fw = new api.Firewall();
      const s = fw.begin('s', 'task');
      expectHandrailError(() => fw.check(s, 'send_money', '{"iban":', NOW), 'json_syntax');
      expectHandrailError(() => fw.check(s, 'send_money', '{"a":1,"a":2}', NOW), 'duplicate_key');
      expectHandrailError(() => fw.record(s, 'send_money', '[1e400]', 'ran', null, NOW), 'non_finite_number');
      expectHandrailError(() => fw.observe(s, 'send_money', '['.repeat(200) + ']'.repeat(200)), 'too_deep');
      // The depth rule is the core parser's alone (`canonical::MAX_DEPTH`, 128): 128 levels
      // are read, 129 are too deep.
      const nested = (n) => '['.repeat(n) + ']'.repeat(n);
      assert.equal(fw.check(s, 'send_money', nested(127), NOW).action, 'review');
      assert.equal(fw.check(s, 'send_money', nested(128), NOW).action, 'review');
      expectHandrailError(() => fw.check(s, 'send_money', nested(129), NOW), 'too_deep');
      for (const bad of [undefined, () => 1, 10n]) {
        expectPlainError(() => fw.check(s, 'send_money', bad, NOW), TypeError);
      }
    });

    test('now is whole Unix seconds, costUsd a finite number', () => {
      const fw = new api.Firewall();
      const s = fw.begin('s', 'task');
      for (const bad of [NOW + 0.5, NaN, Infinity, undefined, 2 ** 60]) {
        expectPlainError(() => fw.check(s, 'send_money', '{}', bad), RangeError);
        expectPlainError(() => fw.record(s, 'send_money', '{}', 'ran', null, bad), RangeError);
        expectPlainError(() => fw.graph(bad), RangeError);
      }
      for (const bad of [NaN, Infinity, -Infinity]) {
        expectPlainError(() => fw.check(s, 'send_money', '{}', NOW, null, bad), RangeError);
      }
    });

    test('policy and config as objects or JSON text', () => {
      const strict = { deny: ['drop_table'], daily_budget_usd: 10, effects: policy.effects };
      for (const p of [strict, JSON.stringify(strict)]) {
        const fw = new api.Firewall(p, { review_at: 0.9 }, 'enforce');
        const s = fw.begin('s', 'task');
        const deny = fw.check(s, 'drop_table', {}, NOW);
        assert.equal(deny.action, 'block');
        assert.deepEqual(deny.reasons.map((r) => r.code), ['policy_deny']);
        assert.equal(fw.check(s, 'buy_credits', {}, NOW, 'payment', 20).action, 'block');
        assert.equal(fw.check(s, 'buy_credits', {}, NOW, 'payment', 20).reasons[0].code, 'budget_exceeded');
        fw.record(s, 'buy_credits', {}, 'ran', null, NOW, 'payment', 8);
        assert.equal(fw.check(s, 'buy_credits', {}, NOW, 'payment', 3).reasons[0].code, 'budget_exceeded');
        // A new write tool with nothing to vouch for is reported, not held (the core judges
        // novelty by a call's values and effect: score 0.3, below review_at).
        const v = fw.check(s, 'update_notes', {}, NOW);
        assert.equal(v.action, 'allow');
        assert.equal(v.score, 0.3);
        assert.deepEqual(v.reasons.map((r) => r.code), ['tool_new']);
      }
    });

    test('a policy or config that does not parse is invalid_options', () => {
      expectHandrailError(() => new api.Firewall('{"deny":['), 'invalid_options');
      expectHandrailError(() => new api.Firewall(null, '{"review_at":1,"review_at":2}'), 'invalid_options');
      expectHandrailError(() => new api.Firewall({ alow: ['x'] }), 'invalid_options');
      expectHandrailError(() => new api.Firewall({ effects: { x: 'teleport' } }), 'invalid_options');
      expectHandrailError(() => new api.Firewall(null, { review_at: 'high' }), 'invalid_options');
      expectHandrailError(() => new api.Firewall(42), 'invalid_options');
    });

    test('a session of another class is refused', () => {
      const fw = new api.Firewall();
      assert.throws(() => fw.check({}, 'send_money', '{}', NOW));
    });
  });
}
