#!/usr/bin/env bash
# Builds the Node package (napi addon + TypeScript) and runs its tests.
#
#   scripts/test-node.sh          # from any directory
#
# Installs the pinned npm tools with `npm ci` (skipped when package-lock.json has not changed
# since the last install), builds the addon into the workspace target dir (target/<host
# triple>/release, shared between runs), compiles ts/ into dist/, checks that the committed
# native/index.d.ts is what the build generated, builds `handrail-server` (debug) for the
# client tests and exports it as HANDRAIL_BIN, checks the packed tarball installed into a
# fresh folder (scripts/check-node-pack.sh), and runs `node --test test/`.
set -euo pipefail
# Servers started by the tests log at warn: CI output keeps what matters.
export HANDRAIL_LOG="${HANDRAIL_LOG:-warn}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pkg="$root/bindings-node"
cd "$pkg"

export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
export CARGO_TARGET_DIR="$root/target"

stamp=node_modules/.handrail-lock.sha256
if [[ -f package-lock.json ]]; then
  want="$(sha256sum package.json package-lock.json)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "test-node: node_modules matches package-lock.json, skipping npm ci"
  else
    npm ci --prefer-offline --loglevel=error
    printf '%s' "$want" >"$stamp"
  fi
else
  npm install --loglevel=error
fi

# The client tests start a real `handrail serve`: build it and name it.
(cd "$root" && cargo build --quiet -p handrail-server)
export HANDRAIL_BIN="${HANDRAIL_BIN:-$CARGO_TARGET_DIR/debug/handrail}"

npm run --silent build

# native/index.d.ts is generated from the Rust doc comments and signatures, and committed:
# fail when it is tracked but the build produced something else.
if git -C "$root" ls-files --error-unmatch bindings-node/native/index.d.ts >/dev/null 2>&1; then
  if ! git -C "$root" diff --quiet -- bindings-node/native/index.d.ts; then
    git -C "$root" --no-pager diff --stat -- bindings-node/native/index.d.ts
    echo "test-node: bindings-node/native/index.d.ts is out of date; commit the regenerated file" >&2
    exit 1
  fi
fi

# The package as npm users get it: packed, installed offline into a fresh folder, every
# entry point resolved from there.
bash "$root/scripts/check-node-pack.sh"

npm test
