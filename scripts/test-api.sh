#!/usr/bin/env bash
# Schemathesis (PyPI) against a real `handrail serve`: it generates requests from the
# server's own /v1/openapi.json and checks every answer — no 5xx, every status, content type
# and body as documented — once with an operator token and once with an agent key.
# Bounded: SCHEMATHESIS_EXAMPLES examples per operation (default 25), a fixed seed.
#
#   scripts/test-api.sh
#   SCHEMATHESIS_EXAMPLES=500 scripts/test-api.sh     # longer, on demand
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="$ROOT/.venv-api"
if [[ ! -x "$VENV/bin/schemathesis" ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==4.32.5"
fi
cargo build -p handrail-server
data="$(mktemp -d)"
log="$data/serve.log"
HANDRAIL_RATE_LIMIT=100000 HANDRAIL_LOG=warn "$CARGO_TARGET_DIR/debug/handrail" serve \
    --addr 127.0.0.1:0 --data "$data/db" >"$data/stdout" 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
url=""
for _ in $(seq 1 100); do
    url="$(sed -n 's/^listening on //p' "$data/stdout" | head -1)"
    [[ -n "$url" ]] && break
    sleep 0.1
done
[[ -n "$url" ]] || { echo "test-api: the server did not start" >&2; cat "$log" >&2; exit 1; }
token() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$data/db/bootstrap.json" "$1"; }
examples="${SCHEMATHESIS_EXAMPLES:-25}"
for who in operator_token agent_key; do
    printf '\n==> schemathesis with the %s (%s examples per operation)\n' "${who%%_*}" "$examples"
    # The long-poll and the event stream are excluded: they answer only after seconds (their
    # own tests cover them); everything else is generated.
    "$VENV/bin/schemathesis" run "$url/v1/openapi.json" \
        -H "Authorization: Bearer $(token "$who")" \
        --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
        --phases examples,fuzzing --max-examples "$examples" --seed 1 -w 1 \
        --exclude-path '/v1/requests/{id}/wait' --exclude-path '/v1/events' \
        --no-color
done
if grep -q '"level":"error"' "$log"; then
    echo "test-api: the server logged errors:" >&2
    grep '"level":"error"' "$log" >&2
    exit 1
fi
echo "test-api: every generated call answered as documented"
