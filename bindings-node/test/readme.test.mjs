// The README's adapter examples are the tests' own lines: every `START README <name>` …
// `END README <name>` block of a test file must appear in README.md as it is (dedented).
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const readme = readFileSync(join(here, "..", "..", "README.md"), "utf8");

function blocks() {
  const found = [];
  for (const file of readdirSync(here).filter((f) => f.endsWith(".mjs"))) {
    const text = readFileSync(join(here, file), "utf8");
    for (const m of text.matchAll(/\/\/ START README (\S+)\n([\s\S]*?)\n\s*\/\/ END README \1\n/g)) {
      const lines = m[2].split("\n");
      const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.match(/^ */)[0].length));
      found.push({ file, name: m[1], code: lines.map((l) => l.slice(indent)).join("\n") });
    }
  }
  return found;
}

test("every named README block of the tests is in README.md verbatim", () => {
  const found = blocks();
  assert.ok(found.length >= 4, `found ${found.map((b) => b.name)}`);
  for (const { file, name, code } of found) {
    assert.ok(readme.includes(code), `README.md lacks block "${name}" of test/${file}:\n${code}`);
  }
});
