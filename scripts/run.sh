#!/usr/bin/env bash
# The main job: the control plane on SQLite (./.handrail) and an agent that waits for you.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# The dashboard is embedded into the binary: build it first (the browser package and the
# bundled TypeScript; the first run installs wasm-bindgen-cli, about 2 minutes).
echo "building the dashboard and the server (the first run takes a few minutes)…"
scripts/build-dashboard.sh >/dev/null
cargo build --release -q -p handrail-server --bin handrail --example refund_agent
./target/release/handrail serve --data .handrail --addr "${HANDRAIL_ADDR:-127.0.0.1:8787}" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do [[ -f .handrail/bootstrap.json ]] && curl -sf "http://${HANDRAIL_ADDR:-127.0.0.1:8787}/healthz" >/dev/null && break; sleep 0.1; done
token="$(python3 -c 'import json;print(json.load(open(".handrail/bootstrap.json"))["operator_token"])')"
echo "dashboard: http://${HANDRAIL_ADDR:-127.0.0.1:8787}/#token=$token"
echo "(open it and confirm the project it names to sign in; or decide with ./target/release/handrail approve|reject)"
./target/release/examples/refund_agent
