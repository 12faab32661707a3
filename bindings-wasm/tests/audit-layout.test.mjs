// verifyAudit on chains built here with node:crypto from the rule in core/src/audit.rs
// (hash = hex SHA-256 of the JCS of {actor, at, data, event, prev, project, seq, subject}),
// and the firewall's graph layout (Firewall.layout, layoutProfile) on a profile taught
// through Firewall.record.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';

import { expectHandrailError, expectPlainError, loadBuilds } from './_builds.mjs';

const builds = await loadBuilds();
const GENESIS = '0'.repeat(64);

/** JCS of plain data made of objects, arrays, ASCII strings and small integers. */
function jcs(value) {
  if (Array.isArray(value)) return `[${value.map(jcs).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${jcs(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** `n` entries of one project's chain, from seq 1. */
function chain(n, project = 'prj_1') {
  const entries = [];
  let prev = GENESIS;
  for (let seq = 1; seq <= n; seq++) {
    const fields = { seq, at: 1764000000 + seq, project, actor: 'op_alice', event: 'request.resolved', subject: `req_${seq}`, data: { status: 'APPROVED', n: seq }, prev };
    const hash = createHash('sha256').update(jcs(fields)).digest('hex');
    entries.push({ ...fields, hash });
    prev = hash;
  }
  return entries;
}

const NOW = 1764000000;

/** A firewall taught a few sessions: search → read → (summarize | email), and a loop. */
function taught(api) {
  const fw = new api.Firewall({ effects: { send_email: 'egress', search: 'read', read_doc: 'read', summarize: 'read', archive: 'write' } });
  const sessions = [
    ['search', 'read_doc', 'summarize'],
    ['search', 'read_doc', 'summarize', 'send_email'],
    ['search', 'read_doc', 'search', 'read_doc', 'summarize'],
    ['read_doc', 'archive'],
  ];
  sessions.forEach((tools, i) => {
    const s = fw.begin(`s${i}`, 'weekly report');
    for (const tool of tools) fw.record(s, tool, JSON.stringify({ q: 'x' }), 'trusted', null, NOW);
    s.free();
  });
  return fw;
}

for (const [build, api] of Object.entries(builds)) {
  describe(`verifyAudit (${build} build)`, () => {
    test('a whole chain, as an array and as a page', () => {
      const entries = chain(5);
      const last = { seq: 5, hash: entries[4].hash };
      assert.deepEqual(api.verifyAudit(JSON.stringify(entries)), { count: 5, last });
      assert.deepEqual(api.verifyAudit(JSON.stringify({ entries, next: null })), { count: 5, last });
      assert.deepEqual(api.verifyAudit(new TextEncoder().encode(JSON.stringify(entries))), { count: 5, last });
      assert.deepEqual(api.verifyAudit(JSON.stringify(entries), { seq: 0, hash: GENESIS }), { count: 5, last });
      assert.deepEqual(api.verifyAudit('[]'), { count: 0, last: null });
    });

    test('page by page, each page after the last of the one before', () => {
      const entries = chain(7);
      const first = api.verifyAudit(JSON.stringify({ entries: entries.slice(0, 3), next: 3 }));
      assert.deepEqual(first, { count: 3, last: { seq: 3, hash: entries[2].hash } });
      const second = api.verifyAudit(JSON.stringify(entries.slice(3)), first.last);
      assert.deepEqual(second, { count: 4, last: { seq: 7, hash: entries[6].hash } });
      assert.deepEqual(api.verifyAudit('[]', second.last), { count: 0, last: second.last });
      // A page that does not start where the last one ended.
      const err = assertBroken(() => api.verifyAudit(JSON.stringify(entries.slice(4)), first.last));
      assert.match(err.message, /entry 5\b/);
    });

    test('tampering is caught at the first bad entry, named by its seq', () => {
      const changed = chain(6);
      changed[3].data.status = 'REJECTED';
      assert.match(assertBroken(() => api.verifyAudit(JSON.stringify(changed))).message, /entry 4\b.*prj_1/);
      const removed = chain(6);
      removed.splice(2, 1);
      assert.match(assertBroken(() => api.verifyAudit(JSON.stringify(removed))).message, /entry 4\b/);
      const swapped = chain(4);
      [swapped[1], swapped[2]] = [swapped[2], swapped[1]];
      assert.match(assertBroken(() => api.verifyAudit(JSON.stringify(swapped))).message, /entry 3\b/);
      const mixed = [...chain(2), ...chain(3, 'prj_2').slice(2)];
      assert.match(assertBroken(() => api.verifyAudit(JSON.stringify(mixed))).message, /entry 3\b/);
      const rehashed = chain(3);
      rehashed[0].hash = 'f'.repeat(64);
      assert.match(assertBroken(() => api.verifyAudit(JSON.stringify(rehashed))).message, /entry 1\b/);
    });

    test('input that is not entries', () => {
      expectHandrailError(() => api.verifyAudit('[{"seq":1}]'), 'invalid_response');
      expectHandrailError(() => api.verifyAudit('{"entries":7}'), 'invalid_response');
      expectHandrailError(() => api.verifyAudit('[1,'), 'json_syntax');
      expectPlainError(() => api.verifyAudit('[]', { seq: -1, hash: GENESIS }), TypeError);
      expectPlainError(() => api.verifyAudit('[]', { seq: 1 }), TypeError);
      expectPlainError(() => api.verifyAudit(5), TypeError);
      assert.equal(api.verifyAudit(JSON.stringify(chain(1))).count, 1);
    });
  });

  describe(`graph layout (${build} build)`, () => {
    test('every node placed, in range, forward edges left to right, deterministic', () => {
      const fw = taught(api);
      const graph = fw.graph(NOW);
      const layout = fw.layout(NOW);
      assert.equal(layout.truncated, 0);
      assert.deepEqual(layout.nodes.map((n) => n.id).sort((a, b) => a - b), graph.nodes.map((n) => n.id).sort((a, b) => a - b));
      assert.deepEqual(layout.edges, graph.edges);
      const byId = new Map(layout.nodes.map((n) => [n.id, n]));
      const byTool = new Map(layout.nodes.map((n) => [n.tool, n]));
      for (const n of layout.nodes) {
        assert.ok(n.x >= 0 && n.x <= 1 && n.y >= 0 && n.y <= 1, JSON.stringify(n));
        assert.ok(Number.isInteger(n.layer) && Number.isInteger(n.count));
        const g = graph.nodes.find((m) => m.id === n.id);
        assert.equal(n.tool, g.tool);
        assert.equal(n.effect, g.effect);
      }
      assert.equal(byTool.get('^').layer, 0);
      assert.equal(byTool.get('^').x, 0);
      assert.equal(byTool.get('^').count, 4, 'four sessions started');
      assert.equal(byTool.get('send_email').effect, 'egress');
      // search → read_doc → summarize → send_email is the spine; read_doc → search closes
      // the one cycle and is the only edge that does not point right.
      const layer = (t) => byTool.get(t).layer;
      assert.ok(layer('search') < layer('read_doc') && layer('read_doc') < layer('summarize') && layer('summarize') < layer('send_email'));
      const backward = layout.edges.filter((e) => byId.get(e.from).layer >= byId.get(e.to).layer);
      assert.deepEqual(backward.map((e) => [byId.get(e.from).tool, byId.get(e.to).tool]), [['read_doc', 'search']]);
      assert.deepEqual(fw.layout(NOW), layout);
    });

    test('layoutProfile on the profile bytes gives the same layout; maxNodes cuts', () => {
      const fw = taught(api);
      const bytes = fw.profileBytes();
      const layout = fw.layout(NOW);
      assert.deepEqual(api.layoutProfile(bytes, NOW), layout);
      assert.deepEqual(api.layoutProfile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), NOW), layout);
      const cut = api.layoutProfile(bytes, NOW, 3);
      assert.equal(cut.nodes.length, 3);
      assert.equal(cut.truncated, layout.nodes.length - 3);
      assert.deepEqual(cut.nodes.map((n) => n.tool).sort(), ['^', 'read_doc', 'search']);
      const kept = new Set(cut.nodes.map((n) => n.id));
      assert.ok(cut.edges.length > 0 && cut.edges.every((e) => kept.has(e.from) && kept.has(e.to)));
      assert.deepEqual(fw.layout(NOW, 3), cut);
      expectHandrailError(() => api.layoutProfile(new Uint8Array([1, 2, 3]), NOW), 'profile_corrupt');
      expectPlainError(() => fw.layout(NOW, -1), RangeError);
      expectPlainError(() => fw.layout(1.5), RangeError);
      expectPlainError(() => api.layoutProfile('bytes', NOW), TypeError);
      assert.equal(fw.layout(NOW, 0).nodes.length, 1);
    });
  });
}

function assertBroken(fn) {
  let thrown;
  expectHandrailError(() => {
    try {
      fn();
    } catch (err) {
      thrown = err;
      throw err;
    }
  }, 'audit_broken');
  return thrown;
}
