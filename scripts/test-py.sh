#!/usr/bin/env bash
# Build, install and test the Python binding (bindings-py), the way CI does.
#
#   scripts/test-py.sh            # debug build (fast; what the tests need)
#   PROFILE=release scripts/test-py.sh
#
# 1. creates .venv at the repository root if missing and installs the pinned tools;
# 2. builds the wheel with maturin into target/wheels (cargo target dir stays the
#    workspace default, so cargo builds are shared);
# 3. installs exactly that wheel into .venv, checks _core.pyi with mypy.stubtest and
#    runs pytest on bindings-py/tests (the shared vectors in tests/vectors, and the client
#    against a real `handrail serve`: the binary is built first and named by HANDRAIL_BIN);
#    3b. the openai-agents adapter's tests in .venv-openai-agents (its openai>=3 and
#    crewai's openai<3 cannot share one venv);
# 4. installs the same wheel into a fresh throwaway venv, offline, and imports it there.
# Safe to rerun: nothing is rebuilt or reinstalled from the network when nothing changed.
set -euo pipefail
# Servers started by the tests log at warn: CI output keeps what matters.
export HANDRAIL_LOG="${HANDRAIL_LOG:-warn}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
PROFILE="${PROFILE:-debug}"
# Tool versions: one place. maturin >= 1.9.4 sets PYO3_BUILD_EXTENSION_MODULE (PyO3 0.26+).
REQUIREMENTS=("maturin>=1.9.4,<2" "pytest>=8,<10" "mypy>=2,<3" "httpx>=0.28,<0.29"
    # The integrations' tests run on the real packages (extras handrail[langgraph], [crewai],
    # [langchain]).
    "langgraph>=1.2,<2" "langgraph-checkpoint-sqlite>=3.1,<4" "crewai>=1.15,<2"
    "langchain>=1.5,<2")
# openai-agents 0.24 needs openai>=3, crewai 1.15 openai<3: handrail[openai-agents] is
# tested in a venv of its own (step 3b).
AGENTS_VENV="$ROOT/.venv-openai-agents"
AGENTS_REQUIREMENTS=("pytest>=8,<10" "httpx>=0.28,<0.29" "openai-agents>=0.24,<0.25")

cd "$ROOT"
step() { printf '\n==> %s\n' "$*"; }

# ---- 1. venv and tools ----------------------------------------------------------------
if [[ ! -x "$PY" ]]; then
    step "creating $VENV"
    python3 -m venv "$VENV"
fi
# A stamp of the requirement list skips pip (about 2 s) on reruns; edit REQUIREMENTS and
# the tools are reinstalled.
STAMP="$VENV/.handrail-test-py-requirements"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "${REQUIREMENTS[*]}" ]]; then
    step "installing ${REQUIREMENTS[*]}"
    "$PY" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"
    printf '%s' "${REQUIREMENTS[*]}" >"$STAMP"
fi
if [[ ! -x "$AGENTS_VENV/bin/python" ]]; then
    step "creating $AGENTS_VENV"
    python3 -m venv "$AGENTS_VENV"
fi
AGENTS_STAMP="$AGENTS_VENV/.handrail-test-py-requirements"
if [[ ! -f "$AGENTS_STAMP" || "$(cat "$AGENTS_STAMP")" != "${AGENTS_REQUIREMENTS[*]}" ]]; then
    step "installing ${AGENTS_REQUIREMENTS[*]} into $AGENTS_VENV"
    "$AGENTS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${AGENTS_REQUIREMENTS[@]}"
    printf '%s' "${AGENTS_REQUIREMENTS[*]}" >"$AGENTS_STAMP"
fi
# The package's runtime dependencies as wheels, so step 4 installs offline.
WHEELHOUSE="$ROOT/target/wheelhouse"
if [[ ! -f "$WHEELHOUSE/.stamp" || "$(cat "$WHEELHOUSE/.stamp")" != "${REQUIREMENTS[*]}" ]]; then
    step "downloading runtime dependencies into $WHEELHOUSE"
    "$PY" -m pip download --quiet --disable-pip-version-check --dest "$WHEELHOUSE" "httpx>=0.28,<0.29"
    printf '%s' "${REQUIREMENTS[*]}" >"$WHEELHOUSE/.stamp"
fi

# ---- 1b. the server the client tests talk to ------------------------------------------
step "building handrail-server (debug)"
cargo build -p handrail-server
export HANDRAIL_BIN="${HANDRAIL_BIN:-$ROOT/target/debug/handrail}"

# ---- 2. clippy and wheel ------------------------------------------------------------------
# clippy for the binding here, where its build environment is: pyo3 needs a Python.
step "cargo clippy -p handrail-py"
PYO3_PYTHON="$PY" cargo clippy -p handrail-py --all-targets -- -D warnings
step "building wheel ($PROFILE)"
WHEELS="$ROOT/target/wheels"
OUT="$(mktemp -d)"
FRESH=""
cleanup() { rm -rf "$OUT" ${FRESH:+"$FRESH"}; }
trap cleanup EXIT
profile_flag=()
[[ "$PROFILE" == release ]] && profile_flag=(--release)
# Build into an empty directory so the wheel to install is unambiguous, then keep it
# in target/wheels.
"$VENV/bin/maturin" build --manifest-path bindings-py/Cargo.toml \
    --interpreter "$PY" "${profile_flag[@]}" --out "$OUT"
shopt -s nullglob
built=("$OUT"/handrail-*.whl)
shopt -u nullglob
if [[ ${#built[@]} -ne 1 ]]; then
    echo "expected exactly one wheel from maturin, found ${#built[@]}" >&2
    exit 1
fi
mkdir -p "$WHEELS"
WHEEL="$WHEELS/$(basename "${built[0]}")"
mv -f "${built[0]}" "$WHEEL"
echo "wheel: $WHEEL"

# ---- 3. install and test ------------------------------------------------------------------
step "installing into $VENV"
"$PY" -m pip install --quiet --disable-pip-version-check --no-index --no-deps \
    --force-reinstall "$WHEEL"

step "mypy.stubtest handrail._core"
# From the scratch directory: stubtest always writes a .mypy_cache into its cwd.
(cd "$OUT" && "$PY" -m mypy.stubtest handrail._core)

step "pytest bindings-py/tests"
# pytest exits 5 when it collected nothing, so an empty run fails this script too.
"$PY" -m pytest bindings-py/tests -q -p no:cacheprovider

# ---- 3b. the OpenAI Agents SDK adapter, in its own venv --------------------------------------
step "pytest bindings-py/tests/test_openai_agents.py (openai-agents, $AGENTS_VENV)"
"$AGENTS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-index --no-deps \
    --force-reinstall "$WHEEL"
"$AGENTS_VENV/bin/python" -m pytest bindings-py/tests/test_openai_agents.py -q -p no:cacheprovider

# ---- 4. the wheel on its own ----------------------------------------------------------------
step "installing the wheel into a fresh venv"
FRESH="$(mktemp -d)"
# Without its own pip (seeding one costs ~5 s): .venv's pip installs into it via --python.
python3 -m venv --without-pip "$FRESH/venv"
"$PY" -m pip --python "$FRESH/venv/bin/python" install --quiet --disable-pip-version-check \
    --no-index --find-links "$WHEELHOUSE" "$WHEEL"
# Run from the temp dir so nothing in the checkout can shadow the installed package.
(
    cd "$FRESH"
    "$FRESH/venv/bin/python" - "$FRESH/venv" <<'PY'
import sys
from pathlib import Path

import handrail

assert Path(handrail.__file__).resolve().is_relative_to(Path(sys.argv[1]).resolve()), handrail.__file__
out = handrail.canonicalize('{"b":1,"a":2}')
assert out == '{"a":2,"b":1}', out
print(f"fresh venv: handrail {handrail.__version__} from {Path(handrail.__file__).parent}: {out}")
PY
)

step "python binding OK"
