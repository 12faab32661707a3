#!/usr/bin/env bash
# The published clients of LetsPing, LoopPause, AEGIS and Agent Ledger, installed from PyPI
# exactly as their users install them, run their documented flows against a real
# `handrail serve` (tests/compat), on SQLite and on PostgreSQL.
#
#   scripts/test-compat.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export HANDRAIL_LOG="${HANDRAIL_LOG:-warn}"
VENV="$ROOT/.venv-compat"
PY="$VENV/bin/python"
if [[ ! -x "$PY" ]]; then
    python3 -m venv "$VENV"
fi
shopt -s nullglob
reqs=(tests/compat/requirements-*.txt)
shopt -u nullglob
if [[ ${#reqs[@]} -eq 0 ]]; then
    echo "test-compat: no client yet (tests/compat/requirements-*.txt)"
    exit 0
fi
args=()
for r in "${reqs[@]}"; do args+=(-r "$r"); done
"$PY" -m pip install --quiet --disable-pip-version-check pytest "${args[@]}"
cargo build -p handrail-server
export HANDRAIL_BIN="$ROOT/target/debug/handrail"
# On SQLite, then the same flows on a throwaway PostgreSQL (scripts/postgres.sh), unless the
# caller names one in HANDRAIL_TEST_POSTGRES.
env -u HANDRAIL_TEST_POSTGRES "$PY" -m pytest tests/compat -q -p no:cacheprovider
if [[ -z "${HANDRAIL_TEST_POSTGRES:-}" ]]; then
    # shellcheck source=scripts/postgres.sh
    source "$ROOT/scripts/postgres.sh"
    postgres_start
fi
"$PY" -m pytest tests/compat -q -p no:cacheprovider
