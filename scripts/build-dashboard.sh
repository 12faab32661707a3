#!/usr/bin/env bash
# Builds the dashboard that `handrail serve` embeds (server/dashboard/dist, read by
# server/build.rs): the browser package first (scripts/test-wasm.sh --build-only: wasm32
# target, wasm-bindgen-cli at the lockfile's version, wasm-opt), then `npm ci` in
# server/dashboard (esbuild, TypeScript, playwright-core; skipped while the lockfile is
# unchanged) and `node build.mjs`. Rebuild the server afterwards to embed the result.
#
#   scripts/build-dashboard.sh     # from any directory; safe to rerun
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dash="$root/server/dashboard"
export npm_config_update_notifier=false

"$root/scripts/test-wasm.sh" --build-only

stamp="$dash/node_modules/.handrail-lock.sha256"
want="$(cd "$dash" && sha256sum package.json package-lock.json)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  printf '\n==> npm ci in server/dashboard\n'
  (cd "$dash" && npm ci --no-audit --no-fund --loglevel=error)
  printf '%s' "$want" >"$stamp"
fi
printf '\n==> dashboard: typecheck and bundle\n'
(cd "$dash" && node_modules/.bin/tsc --noEmit -p . && node build.mjs)
