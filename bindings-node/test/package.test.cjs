// The CommonJS entry point, the ESM entry point and the error contract of the package.
const assert = require("node:assert/strict");
const { test } = require("node:test");

const handrail = require("handrail");

test("require and import share one module instance", async () => {
  const esm = await import("handrail");
  assert.equal(esm.HandrailError, handrail.HandrailError);
  assert.equal(esm.canonicalize, handrail.canonicalize);
  assert.equal(esm.Firewall, handrail.Firewall);
  assert.equal(esm.Handrail, handrail.Handrail);
  assert.equal(esm.ExpiredError, handrail.ExpiredError);
  for (const name of ["canonicalize", "sealEnvelope", "openEnvelope", "generateKey", "Firewall", "Handrail", "once"]) {
    assert.equal(typeof handrail[name], "function", name);
    assert.equal(typeof esm[name], "function", name);
  }
});

test("core failures are HandrailError: a real Error with code and data", () => {
  try {
    handrail.canonicalize('{"a":1,"a":2}');
    assert.fail("should have thrown");
  } catch (err) {
    assert.ok(err instanceof handrail.HandrailError);
    assert.ok(err instanceof Error);
    assert.equal(err.name, "HandrailError");
    assert.equal(err.code, "duplicate_key");
    assert.match(err.message, /duplicate key "a"/);
    assert.ok("data" in err);
    assert.match(err.stack, /^HandrailError: duplicate key/);
  }
});

test("wrong argument types stay napi's errors, not HandrailError", () => {
  assert.throws(
    () => handrail.canonicalize(42),
    (err) => err instanceof Error && !(err instanceof handrail.HandrailError) && err.code === "InvalidArg",
  );
  const key = handrail.generateKey("k1");
  assert.throws(
    () => handrail.sealEnvelope(key, "r", "f", Buffer.alloc(1), { iv: Buffer.alloc(11) }),
    (err) => !(err instanceof handrail.HandrailError) && err.code === "InvalidArg",
  );
});

test("keys", () => {
  const key = handrail.generateKey("client-1");
  assert.match(key, /^hrk1\.client-1\.[A-Za-z0-9_-]{43}$/);
  assert.notEqual(handrail.generateKey("client-1"), key);
  assert.throws(() => handrail.generateKey("no spaces"), { name: "HandrailError", code: "invalid_key" });
  assert.throws(() => handrail.sealEnvelope("hrk1.k1.AAAA", "r", "f", Buffer.alloc(0)), { code: "invalid_key" });
  assert.throws(() => handrail.openEnvelope("{}", ["nope"], "r", "f"), { code: "invalid_key" });
});

test("seal accepts any Uint8Array and open returns a Buffer", () => {
  const key = handrail.generateKey("k1");
  const sealed = handrail.sealEnvelope(key, "r", "f", new TextEncoder().encode("hi"));
  const opened = handrail.openEnvelope(sealed, [key], "r", "f");
  assert.ok(Buffer.isBuffer(opened));
  assert.equal(opened.toString(), "hi");
});
