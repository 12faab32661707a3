# The two commands:
#   make run    the main job: `handrail serve` on SQLite and an agent that waits for your decision
#   make test   installs what it needs, builds everything once, runs every test in every language
#
# Everything else is a step of `make test` you can run alone.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export CARGO_TERM_COLOR ?= never

.PHONY: run quickstart test build-dashboard test-rust test-api test-vectors test-py test-node test-adapters-latest test-wasm test-dashboard test-compat bench fmt

run:
	scripts/run.sh

# The core alone, no server: one guarded payment end to end.
quickstart:
	cargo run --quiet -p handrail-core --example quickstart

test: build-dashboard test-rust test-api test-vectors test-py test-node test-adapters-latest test-wasm test-dashboard test-compat
	@echo "make test: every suite passed"

# The dashboard's assets (browser package + bundled TypeScript), embedded by the server's
# build: first, so every server binary the tests build carries them.
build-dashboard:
	scripts/build-dashboard.sh

# Rust: formatting, lints, then the core (unit, shared vectors, public vectors, property
# tests, doc tests) and the CLI. --show-output prints each vector set's case count.
test-rust:
	scripts/test-rust.sh

# Schemathesis from PyPI against a real server's /v1/openapi.json, with an operator token and
# an agent key: no 5xx, every answer as documented (bounded examples, fixed seed).
test-api:
	scripts/test-api.sh

# The shared vectors must still be what node:crypto computes.
test-vectors:
	node tests/vectors/generate.mjs --check

test-py:
	scripts/test-py.sh

test-node:
	scripts/test-node.sh

# The framework adapters' tests again, on the newest release of each framework's current major
# from PyPI and npm (langchain, langgraph, crewai, openai-agents; ai 7 and 6, langchain.js,
# @langchain/langgraph, @openai/agents, the MCP SDK), in throwaway folders under
# target/adapters-latest/, with the wheel and addon test-py and test-node built. Prints the
# versions it resolved.
test-adapters-latest:
	scripts/test-adapters-latest.sh

test-wasm:
	scripts/test-wasm.sh

# The published LetsPing, LoopPause, AEGIS and Agent Ledger clients against `handrail serve`.
# The dashboard in Debian's Chromium (playwright-core) against a real server, with agents on
# the Node and Python SDKs; screenshots in target/dashboard-screenshots/.
test-dashboard:
	scripts/test-dashboard.sh

test-compat:
	scripts/test-compat.sh

# Criterion benches (a few minutes); figures go to BENCHMARKS.md.
bench:
	cargo bench -p handrail-core --bench core -- --warm-up-time 1 --measurement-time 3
	python3 scripts/bench-report.py

fmt:
	cargo fmt --all
