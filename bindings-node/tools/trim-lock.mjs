#!/usr/bin/env node
// Makes package-lock.json usable by `npm ci` on the project's machines.
//
// The registry those machines reach does not serve every platform build of the napi-rs
// CLI's own native helpers (@napi-rs/lzma-darwin-x64, @napi-rs/tar-win32-x64-msvc, …).
// `npm install` then leaves those optional dependencies out of the lock but still lists
// them under their parent, and `npm ci` refuses the lock ("Missing: … from lock file").
// This drops, from each parent entry, the optional dependencies that have no entry of
// their own. Run it after any `npm install` that rewrites the lock: `npm run lock`.
import { readFileSync, writeFileSync } from "node:fs";

const path = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(path, "utf8"));
const entries = lock.packages;
let dropped = 0;
for (const entry of Object.values(entries)) {
  const optional = entry.optionalDependencies;
  if (!optional) continue;
  for (const name of Object.keys(optional)) {
    if (!(`node_modules/${name}` in entries)) {
      delete optional[name];
      dropped += 1;
    }
  }
}
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`trim-lock: dropped ${dropped} optional dependencies the registry does not serve`);
