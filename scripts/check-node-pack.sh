#!/usr/bin/env bash
# Checks the package as npm users get it: `npm pack` of bindings-node (after its build),
# installed from the tarball into a fresh folder, and every entry point resolved from there:
# `import('handrail')`, `require('handrail')`, `handrail/ai`, `handrail/langchain`,
# `handrail/openai-agents` and the
# `handrail-mcp` bin (which must answer an MCP `initialize`).
#
#   scripts/check-node-pack.sh        # scripts/test-node.sh runs it after the build
#
# Offline: the tarball has no dependencies (its peers are optional), so `npm install` needs
# no registry. The adapters' peer packages are the ones bindings-node already installed
# (npm ci), linked into the fresh folder's node_modules as an app would have them installed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pkg="$root/bindings-node"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

tarball="$(cd "$pkg" && npm pack --silent --pack-destination "$tmp" | tail -n 1)"
app="$tmp/app"
mkdir -p "$app"
printf '{ "name": "handrail-pack-check", "private": true }\n' >"$app/package.json"
(cd "$app" && npm install --offline --no-audit --no-fund --loglevel=error "$tmp/$tarball")
# After the install: npm removes what its package.json does not name.
mkdir -p "$app/node_modules/@langchain" "$app/node_modules/@modelcontextprotocol" "$app/node_modules/@openai"
for peer in ai zod langchain @langchain/core @langchain/langgraph @modelcontextprotocol/sdk @openai/agents; do
  ln -s "$pkg/node_modules/$peer" "$app/node_modules/$peer"
done

# The installed copy, not the source tree: resolution starts in the fresh folder.
installed="$(cd "$app" && node -p 'require.resolve("handrail")')"
case "$installed" in
  "$app"/node_modules/handrail/*) ;;
  *) echo "check-node-pack: handrail resolved to $installed" >&2; exit 1 ;;
esac

cd "$app"
node --input-type=module -e '
  import assert from "node:assert/strict";
  import { createRequire } from "node:module";
  const require = createRequire(process.cwd() + "/");
  const esm = await import("handrail");
  const cjs = require("handrail");
  assert.equal(esm.Firewall, cjs.Firewall, "one module instance for import and require");
  assert.equal(esm.canonicalize(`{"b":1,"a":2}`), `{"a":2,"b":1}`, "the native addon loads");
  const ai = await import("handrail/ai");
  assert.equal(typeof ai.withApproval, "function", "handrail/ai");
  const langchain = await import("handrail/langchain");
  assert.ok(Object.keys(langchain).length > 0, "handrail/langchain");
  assert.equal(typeof langchain.handrailMiddleware, "function", "handrail/langchain middleware");
  assert.equal(typeof langchain.handrailMiddleware({ handrail: new esm.Handrail({ baseUrl: "http://127.0.0.1:9", apiKey: "k" }) }), "object", "the middleware builds with langchain installed");
  const agents = await import("handrail/openai-agents");
  assert.equal(typeof agents.park, "function", "handrail/openai-agents");
  console.log("check-node-pack: handrail, handrail/ai, handrail/langchain, handrail/openai-agents resolve from the tarball");
'

# The bin: one `initialize` on stdin, the answer on stdout, then stdin closes and it exits.
init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"pack-check","version":"0"}}}'
answer="$(printf '%s\n' "$init" | HANDRAIL_URL=http://127.0.0.1:9 HANDRAIL_API_KEY=pack-check timeout 20 ./node_modules/.bin/handrail-mcp)"
if [[ "$answer" != *'"serverInfo"'* ]]; then
  echo "check-node-pack: handrail-mcp did not answer initialize: $answer" >&2
  exit 1
fi
echo "check-node-pack: the handrail-mcp bin answers initialize"
