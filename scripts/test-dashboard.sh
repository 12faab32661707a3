#!/usr/bin/env bash
# The dashboard in a real browser: Debian's Chromium (installed with apt-get when missing)
# driven by playwright-core against a real `handrail serve`, with agents on the Node SDK
# (bindings-node, built by scripts/test-node.sh) and the Python SDK (.venv, built by
# scripts/test-py.sh). Screenshots of every page, desktop and phone, go to
# target/dashboard-screenshots/. tests/decide.test.mjs opens an e-mail's decision link (the
# server mails through a small SMTP server of the test) and approves an edit there. First it
# checks that server/dashboard/src/api-types.ts is what `node server/dashboard/gen-types.mjs`
# generates from the server just built.
#
#   scripts/test-dashboard.sh      # after test-node and test-py (make test runs them first)
set -euo pipefail
export HANDRAIL_LOG="${HANDRAIL_LOG:-warn}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
cd "$root"

if [[ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]]; then
  printf '\n==> installing Debian chromium\n'
  if [[ "$(id -u)" == 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
"${CHROMIUM:-/usr/bin/chromium}" --version

scripts/build-dashboard.sh
printf '\n==> cargo build -p handrail-server (embeds the dashboard)\n'
cargo build --quiet -p handrail-server
export HANDRAIL_BIN="${HANDRAIL_BIN:-$CARGO_TARGET_DIR/debug/handrail}"
# The dashboard's wire types (src/api-types.ts) are generated from this binary's OpenAPI
# document: stale ones fail here, with the diff and the command that regenerates them.
printf '\n==> dashboard wire types match the OpenAPI document\n'
node server/dashboard/gen-types.mjs --check
for need in bindings-node/dist/index.mjs .venv/bin/python; do
  [[ -e "$need" ]] || { echo "test-dashboard: $need is missing: run scripts/test-node.sh and scripts/test-py.sh first" >&2; exit 1; }
done
export HANDRAIL_PYTHON="$root/.venv/bin/python"

printf '\n==> node --test server/dashboard/tests/\n'
cd server/dashboard
node --test --test-concurrency=1 --test-reporter=spec tests/
echo "test-dashboard: screenshots in ${HANDRAIL_SCREENSHOTS:-$CARGO_TARGET_DIR/dashboard-screenshots}"
