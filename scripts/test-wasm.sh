#!/usr/bin/env bash
# Builds the browser binding (bindings-wasm) with wasm-bindgen and runs its tests.
#
#   scripts/test-wasm.sh          # from any directory; safe to rerun
#   scripts/test-wasm.sh --build-only   # steps 1-4 (what scripts/build-dashboard.sh needs)
#
# 1. ensures the wasm32-unknown-unknown target, wasm-bindgen-cli at exactly the version of
#    wasm-bindgen in Cargo.lock (the CLI and the crate must match) and wasm-opt;
# 2. cargo build -p handrail-wasm --target wasm32-unknown-unknown --profile wasm-release
#    (opt-level "z", fat LTO, one codegen unit: see Cargo.toml; workspace target dir, shared
#    with the other scripts);
# 3. wasm-bindgen --target web into bindings-wasm/pkg/web and --target nodejs into
#    bindings-wasm/pkg/node; optimises the web .wasm with `wasm-opt -Oz` (npm package
#    binaryen, pinned in bindings-wasm/package-lock.json; skipped with a message when npm
#    cannot install it); step 3 is skipped when the cargo artifact and tools are unchanged;
# 4. prints raw and gzipped sizes and fails when the web .wasm is over the gzip budget;
# 5. node --test bindings-wasm/tests/ (replays tests/vectors against both builds, so the
#    wasm-opt output is tested too).
#
# Environment: CARGO_TARGET_DIR (default <repo>/target), WASM_GZIP_BUDGET (bytes, default
# 300 KiB), HANDRAIL_NO_WASM_OPT=1 to skip wasm-opt.
set -euo pipefail
# Servers started by the tests log at warn: CI output keeps what matters.
export HANDRAIL_LOG="${HANDRAIL_LOG:-warn}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
crate="$root/bindings-wasm"
pkg="$crate/pkg"
target=wasm32-unknown-unknown
budget="${WASM_GZIP_BUDGET:-$((300 * 1024))}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export npm_config_update_notifier=false
work="$CARGO_TARGET_DIR/handrail-wasm"   # unoptimised copies and markers, outside pkg/
mkdir -p "$work"
cd "$root"

step() { printf '\n==> %s\n' "$*"; }
gz() { gzip -9 -c "$1" | wc -c; }
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }

# ---- 1. toolchain -----------------------------------------------------------------------
if [[ ! -d "$(rustc --print sysroot)/lib/rustlib/$target" ]]; then
  step "adding rust target $target"
  rustup target add "$target"
fi

# The version of the wasm-bindgen crate in the lockfile; the CLI must be exactly this one.
want="$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
if [[ -z "$want" ]]; then
  echo "test-wasm: no wasm-bindgen entry in Cargo.lock" >&2
  exit 1
fi
have="$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)"
if [[ "$have" != "$want" ]]; then
  step "installing wasm-bindgen-cli $want (found: ${have:-none}); takes about 2 minutes"
  # --locked reproduces the CLI's own lockfile; when the registry lacks one of the versions
  # it pins (a mirror behind crates.io), fall back to resolving its dependencies afresh:
  # the CLI itself is still exactly $want.
  if ! cargo install wasm-bindgen-cli --version "=$want" --locked; then
    echo "test-wasm: 'cargo install --locked' failed; retrying without --locked" >&2
    cargo install wasm-bindgen-cli --version "=$want"
  fi
  have="$(wasm-bindgen --version | awk '{ print $2 }')"
  [[ "$have" == "$want" ]] || { echo "test-wasm: wasm-bindgen $have installed, need $want" >&2; exit 1; }
fi
echo "test-wasm: wasm-bindgen $have (Cargo.lock: $want)"

# wasm-opt is optional: without it the build is correct, only larger. It comes from the npm
# package `binaryen`, pinned in bindings-wasm/package.json and package-lock.json, not from
# apt: Debian 12's binaryen 108 rewrites the export of wasm-bindgen's externref table to
# point at the funcref table, and the optimised module then fails in
# __wbindgen_init_externref_table. `npm ci` is skipped while the lockfile is unchanged.
wasm_opt=""
if [[ "${HANDRAIL_NO_WASM_OPT:-0}" == 1 ]]; then
  echo "test-wasm: HANDRAIL_NO_WASM_OPT=1, not optimising with wasm-opt"
else
  npm_stamp="$crate/node_modules/.handrail-lock.sha256"
  npm_want="$(cd "$crate" && sha256sum package.json package-lock.json)"
  if [[ ! -f "$npm_stamp" || "$(cat "$npm_stamp")" != "$npm_want" ]]; then
    step "npm ci in bindings-wasm (binaryen for wasm-opt)"
    if (cd "$crate" && npm ci --no-audit --no-fund --loglevel=error); then
      printf '%s' "$npm_want" >"$npm_stamp"
    fi
  fi
  if [[ -f "$npm_stamp" && -x "$crate/node_modules/.bin/wasm-opt" ]]; then
    wasm_opt="$crate/node_modules/.bin/wasm-opt"
  else
    echo "test-wasm: wasm-opt unavailable ('npm ci' in bindings-wasm failed); skipping -Oz" >&2
  fi
fi

# ---- 2. clippy and cargo build ----------------------------------------------------------
# clippy for the target the crate is built for, with and without the optional `schema`.
step "cargo clippy -p handrail-wasm --target $target"
cargo clippy -p handrail-wasm --target "$target" --all-targets -- -D warnings
# The core as the browser gets it (its x86-64 fast paths compiled out).
cargo clippy -p handrail-core --target "$target" -- -D warnings
cargo clippy -p handrail-wasm --target "$target" --all-targets --all-features -- -D warnings
step "cargo build -p handrail-wasm --target $target --profile wasm-release"
cargo build -p handrail-wasm --target "$target" --profile wasm-release
artifact="$CARGO_TARGET_DIR/$target/wasm-release/handrail_wasm.wasm"

# ---- 3. wasm-bindgen + wasm-opt -----------------------------------------------------------
# Everything below depends only on these inputs; unchanged inputs keep pkg/ as it is.
stamp="$pkg/.handrail-build"
key="$(sha256sum <"$artifact" | cut -d' ' -f1) wasm-bindgen=$have wasm-opt=${wasm_opt:+$("$wasm_opt" --version)} script=$(sha256sum <"${BASH_SOURCE[0]}" | cut -d' ' -f1)"
web_wasm="$pkg/web/handrail_wasm_bg.wasm"
unopt="$work/handrail_wasm_bg.web.unopt.wasm"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$key" && -f "$web_wasm" && -f "$pkg/node/handrail_wasm.js" ]]; then
  echo "test-wasm: pkg/ is up to date with the cargo artifact, skipping wasm-bindgen"
else
  step "wasm-bindgen --target web / --target nodejs"
  rm -rf "$pkg/web" "$pkg/node" "$stamp"
  wasm-bindgen "$artifact" --target web --out-dir "$pkg/web"
  wasm-bindgen "$artifact" --target nodejs --out-dir "$pkg/node"
  # pkg/node is CommonJS, but bindings-wasm/package.json says "type": "module": without
  # this, Node would load handrail_wasm.js as an ES module and fail on `require`.
  printf '{\n  "type": "commonjs"\n}\n' >"$pkg/node/package.json"
  cp "$web_wasm" "$unopt"
  if [[ -n "$wasm_opt" ]]; then
    step "wasm-opt -Oz ($("$wasm_opt" --version))"
    # The features rustc enables by default for wasm32-unknown-unknown (Rust >= 1.82).
    "$wasm_opt" -Oz --strip-debug --strip-producers \
      --enable-bulk-memory --enable-mutable-globals --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-reference-types --enable-multivalue \
      "$web_wasm" -o "$web_wasm.opt"
    mv "$web_wasm.opt" "$web_wasm"
  fi
  printf '%s' "$key" >"$stamp"
fi

# ---- 4. sizes ---------------------------------------------------------------------------
step "sizes"
row() { printf '  %-34s %12s %12s\n' "$@"; }
row "" raw gzip-9
row_file() {
  [[ -f "$2" ]] && row "$1" "$(kib "$(wc -c <"$2")")" "$(kib "$(gz "$2")")"
  return 0
}
row_file "cargo (before wasm-bindgen)" "$artifact"
row_file "web, before wasm-opt" "$unopt"
row_file "web (shipped)" "$web_wasm"
row_file "node (shipped)" "$pkg/node/handrail_wasm_bg.wasm"
size="$(gz "$web_wasm")"
if ((size > budget)); then
  echo "test-wasm: web .wasm is $(kib "$size") gzipped, over the budget of $(kib "$budget")" >&2
  exit 1
fi
echo "test-wasm: web .wasm $(kib "$size") gzipped, within the budget of $(kib "$budget")"

# `--build-only` (scripts/build-dashboard.sh): the package is built, its tests run later.
if [[ "${1:-}" == "--build-only" ]]; then
  exit 0
fi

# ---- 5. tests ---------------------------------------------------------------------------
step "node --test bindings-wasm/tests/"
node --test --test-reporter=spec bindings-wasm/tests/
