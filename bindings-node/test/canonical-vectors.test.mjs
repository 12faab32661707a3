// Replays tests/vectors/canonical.json through the public API, one test per case.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import { canonicalize, HandrailError } from "handrail";

const vectors = JSON.parse(readFileSync(new URL("../../tests/vectors/canonical.json", import.meta.url), "utf8"));

describe(`vectors: ${vectors.module}`, () => {
  for (const c of vectors.cases) {
    test(c.name, () => {
      const input = "input_hex" in c ? Buffer.from(c.input_hex, "hex") : c.input;
      if ("error" in c) {
        assert.throws(
          () => canonicalize(input),
          (err) => {
            assert.ok(err instanceof HandrailError, `expected HandrailError, got ${err}`);
            assert.equal(err.code, c.error);
            return true;
          },
        );
      } else {
        assert.equal(canonicalize(input), c.output);
        // Bytes and text are the same input.
        assert.equal(canonicalize(Buffer.from(input, "utf8")), c.output);
      }
    });
  }
});
