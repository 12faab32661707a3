#!/usr/bin/env bash
# The framework adapters against the NEWEST release of each framework's current major, from
# the registries, beside the versions the normal jobs use (Python: what test-py.sh installed;
# Node: bindings-node/package-lock.json).
#
#   scripts/test-adapters-latest.sh          # after scripts/test-py.sh and scripts/test-node.sh
#
# It reuses what those two built: the Handrail wheel in target/wheels, the compiled
# bindings-node (dist/ and the native addon, packed with `npm pack` as
# scripts/check-node-pack.sh does) and target/debug/handrail. Into throwaway folders under
# target/adapters-latest/ it installs, newest first:
#   py/               langchain 1.x, langgraph 1.x, langgraph-checkpoint-sqlite 3.x, crewai 1.x
#   py-openai-agents/ openai-agents 0.x (it needs openai>=3, crewai openai<3: a venv of its own)
#   node/             ai 7 and ai 6 (as `ai6`), langchain 1, @langchain/core 1,
#                     @langchain/langgraph 1, @openai/agents 0, @modelcontextprotocol/sdk 1,
#                     zod 4, and the packed handrail tarball
# prints the versions it resolved, and runs the existing adapter tests on them: pytest on
# test_integrations.py, test_langchain.py and test_openai_agents.py; node --test on copies of
# the adapter test files placed in node/test/, so their imports resolve from node/node_modules.
# Safe to rerun: each run upgrades to whatever is newest then (pip --upgrade, npm install
# without a lockfile) and reinstalls the Handrail builds. About 5 minutes warm on 2 busy cores,
# most of it the tests.
set -euo pipefail
export HANDRAIL_LOG="${HANDRAIL_LOG:-warn}"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/target/adapters-latest"
cd "$ROOT"
START=$SECONDS
step() { printf '\n==> [%ss] %s\n' "$((SECONDS - START))" "$*"; }

# The current majors, one place. Test tools as in test-py.sh.
PY_FRAMEWORKS=("langchain>=1,<2" "langgraph>=1,<2" "langgraph-checkpoint-sqlite>=3,<4" "crewai>=1,<2")
PY_AGENTS=("openai-agents>=0,<1")
PY_TOOLS=("pytest>=8,<10" "httpx>=0.28,<0.29")
NODE_FRAMEWORKS='{
    "ai": "^7",
    "ai6": "npm:ai@^6",
    "langchain": "^1",
    "@langchain/core": "^1",
    "@langchain/langgraph": "^1",
    "@openai/agents": ">=0.0.0 <1",
    "@modelcontextprotocol/sdk": "^1",
    "zod": "^4"
}'
NODE_TESTS=(ai.test.mjs ai6.test.mjs ai-suite.mjs langchain.test.mjs langchain-agent.test.mjs
    openai-agents.test.mjs mcp.test.mjs server.mjs)

# ---- what the normal jobs built ---------------------------------------------------------
shopt -s nullglob
wheels=("$ROOT"/target/wheels/handrail-*.whl)
shopt -u nullglob
if [[ ${#wheels[@]} -eq 0 ]]; then
    echo "test-adapters-latest: no wheel in target/wheels; run scripts/test-py.sh first" >&2
    exit 1
fi
WHEEL="$(ls -t "${wheels[@]}" | head -n 1)"
if [[ ! -f bindings-node/dist/index.js || ! -f bindings-node/dist/langchain.js ]]; then
    echo "test-adapters-latest: bindings-node is not built; run scripts/test-node.sh first" >&2
    exit 1
fi
step "building handrail-server (debug)"
cargo build --quiet -p handrail-server
export HANDRAIL_BIN="${HANDRAIL_BIN:-$ROOT/target/debug/handrail}"
mkdir -p "$OUT"

# ---- Python ------------------------------------------------------------------------------
venv() { # venv DIR REQUIREMENT...: the newest of each requirement, then this wheel
    local dir="$1"
    shift
    [[ -x "$dir/bin/python" ]] || python3 -m venv "$dir"
    # --upgrade takes the newest release of each named package; their dependencies move only
    # when a new release needs it (eager re-resolution of crewai's tree costs minutes).
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$@"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-index --no-deps \
        --force-reinstall "$WHEEL"
}
versions() { # versions PYTHON DIST...
    local py="$1"
    shift
    "$py" - "$@" <<'PY'
import sys
from importlib.metadata import version

print("   ", ", ".join(f"{name} {version(name)}" for name in sys.argv[1:]))
PY
}

step "Python: newest langchain 1, langgraph 1, langgraph-checkpoint-sqlite 3, crewai 1 ($OUT/py)"
venv "$OUT/py" "${PY_TOOLS[@]}" "${PY_FRAMEWORKS[@]}"
step "Python: newest openai-agents 0 ($OUT/py-openai-agents)"
venv "$OUT/py-openai-agents" "${PY_TOOLS[@]}" "${PY_AGENTS[@]}"

# ---- Node --------------------------------------------------------------------------------
NODE="$OUT/node"
step "Node: newest ai 7 and 6, langchain 1, @langchain/core 1, @langchain/langgraph 1, @openai/agents 0, @modelcontextprotocol/sdk 1, zod 4 ($NODE)"
mkdir -p "$NODE/test"
rm -f "$NODE"/handrail-*.tgz
tarball="$(cd bindings-node && npm pack --silent --pack-destination "$NODE" | tail -n 1)"
# `bin` names the installed handrail-mcp, where mcp.test.mjs looks for it (../package.json).
node - "$NODE/package.json" "$tarball" "$NODE_FRAMEWORKS" <<'JS'
const [file, tarball, frameworks] = process.argv.slice(2);
const pkg = {
  name: "handrail-adapters-latest",
  private: true,
  bin: { "handrail-mcp": "node_modules/handrail/dist/mcp.js" },
  dependencies: { ...JSON.parse(frameworks), handrail: `file:./${tarball}` },
};
require("node:fs").writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
JS
# No lockfile: every run resolves the newest releases again; the same-version tarball is
# installed afresh.
rm -rf "$NODE/package-lock.json" "$NODE/node_modules/handrail"
# npm revalidates cached registry metadata older than the registry's max-age (minutes).
(cd "$NODE" && npm install --no-audit --no-fund --loglevel=error)
rm -f "$NODE"/test/*.mjs
for f in "${NODE_TESTS[@]}"; do cp "bindings-node/test/$f" "$NODE/test/$f"; done

# ---- versions ----------------------------------------------------------------------------
step "resolved versions"
echo "  Python ($OUT/py):"
versions "$OUT/py/bin/python" langchain langchain-core langgraph langgraph-checkpoint-sqlite crewai
echo "  Python ($OUT/py-openai-agents):"
versions "$OUT/py-openai-agents/bin/python" openai-agents openai
echo "  Node ($NODE):"
(cd "$NODE" && node -e '
  const names = ["ai", "ai6", "langchain", "@langchain/core", "@langchain/langgraph", "@openai/agents", "@modelcontextprotocol/sdk", "zod"];
  const fs = require("node:fs");
  const v = (n) => JSON.parse(fs.readFileSync(`node_modules/${n}/package.json`, "utf8")).version;
  console.log("   ", names.map((n) => `${n === "ai6" ? "ai (6)" : n} ${v(n)}`).join(", "));
')

# ---- the tests ---------------------------------------------------------------------------
# The frameworks must import: a test module that skips itself would hide a broken release.
"$OUT/py/bin/python" -c "import langchain.agents, langgraph.checkpoint.sqlite, crewai.tools"
"$OUT/py-openai-agents/bin/python" -c "import agents"
step "pytest (newest langchain, langgraph, crewai)"
"$OUT/py/bin/python" -m pytest bindings-py/tests/test_integrations.py bindings-py/tests/test_langchain.py \
    -q -p no:cacheprovider
step "pytest (newest openai-agents)"
"$OUT/py-openai-agents/bin/python" -m pytest bindings-py/tests/test_openai_agents.py -q -p no:cacheprovider
step "node --test (newest ai, langchain, @langchain/*, @openai/agents, @modelcontextprotocol/sdk)"
(cd "$NODE" && node --test test/)

step "the adapters pass on the newest releases"
