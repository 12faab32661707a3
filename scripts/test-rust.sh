#!/usr/bin/env bash
# Rust checks and tests for the core and the server crate.
#
#   scripts/test-rust.sh      # from any directory
#
# Checks formatting and clippy (warnings are errors; an `unsafe` block without a `// SAFETY:`
# comment is one, see [workspace.lints] in Cargo.toml) for the core, the server and the Node
# addon (which needs only Rust to check); the Python binding is checked by test-py.sh (pyo3
# needs the venv's Python), the wasm one by test-wasm.sh (for wasm32). Then runs every test
# of the core (unit, shared vectors, public vectors, bounded property tests, doc tests) and
# the CLI's, and the server's integration tests a second time on PostgreSQL (a throwaway
# cluster scripts/postgres.sh installs if needed, starts and removes), with the tests that
# run several replicas on one database (server/tests/replicas.rs).
# --show-output prints how many cases each vector set ran.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# Servers the tests start log requests at info; warnings and errors are what a reader of CI
# output needs.
export HANDRAIL_LOG="${HANDRAIL_LOG:-warn}"

if ! command -v cargo >/dev/null; then
  echo "test-rust: cargo is required (rustup: https://rustup.rs)" >&2
  exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

cargo fmt --all -- --check
cargo clippy -p handrail-core -p handrail-server -p handrail-node --all-targets -- -D warnings
# The first run is on SQLite, whatever the caller's environment says.
env -u HANDRAIL_TEST_POSTGRES cargo test -p handrail-core -p handrail-server -- --show-output
# The core without its vendor formats (feature `compat`): builds clean, and the shared
# vectors replay with the LetsPing forms unknown (a legacy envelope is `envelope_malformed`).
cargo clippy -p handrail-core --no-default-features --all-targets -- -D warnings
cargo test -p handrail-core --no-default-features --test vectors

# The server's integration tests again, every server on its own database of a PostgreSQL
# (HANDRAIL_TEST_POSTGRES, an admin URL: the caller's, else a throwaway one started here);
# the same build: the tests under server/tests, and the store's own unit tests (races between
# two stores on one database), which skip without it.
if [ -z "${HANDRAIL_TEST_POSTGRES:-}" ]; then
  # shellcheck source=scripts/postgres.sh
  source "$root/scripts/postgres.sh"
  postgres_start
fi
cargo test -p handrail-server --lib --test '*'
