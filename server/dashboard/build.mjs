// Builds the dashboard into dist/, which server/build.rs embeds into `handrail`:
//   src/main.ts (+ imports)  → dist/app.js   (esbuild: one ES module, minified)
//   static/*                 → dist/*
//   ../../bindings-wasm/pkg/web/handrail_wasm{.js,_bg.wasm} → dist/wasm/
//   icon-192.png, icon-512.png drawn here (the PWA install prompt wants PNG icons)
//   a .gz beside every compressible file (served to browsers that accept gzip)
// Usage: node build.mjs   (scripts/build-dashboard.sh builds the wasm package first)
import { build } from "esbuild";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync, gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
// Built into a scratch folder, then only changed files are copied into dist/: unchanged
// assets keep their mtime, so cargo does not rebuild the server for nothing.
const final = join(here, "dist");
const dist = join(here, "dist.tmp");
const wasmPkg = join(here, "..", "..", "bindings-wasm", "pkg", "web");

for (const f of ["handrail_wasm.js", "handrail_wasm_bg.wasm"]) {
  if (!existsSync(join(wasmPkg, f))) {
    console.error(`build.mjs: ${join(wasmPkg, f)} is missing: run scripts/build-dashboard.sh (it builds the wasm package first)`);
    process.exit(1);
  }
}
rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "wasm"), { recursive: true });

await build({
  entryPoints: [join(here, "src", "main.ts")],
  outfile: join(dist, "app.js"),
  bundle: true,
  format: "esm",
  target: ["chrome110", "firefox110", "safari16"],
  minify: true,
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
});
for (const f of readdirSync(join(here, "static"))) copyFileSync(join(here, "static", f), join(dist, f));
for (const f of ["handrail_wasm.js", "handrail_wasm_bg.wasm"]) copyFileSync(join(wasmPkg, f), join(dist, "wasm", f));
for (const size of [192, 512]) writeFileSync(join(dist, `icon-${size}.png`), icon(size));

const compressible = /\.(html|js|css|wasm|svg|webmanifest|json)$/;
let raw = 0;
let gz = 0;
for (const file of walk(dist)) {
  if (!compressible.test(file)) continue;
  const bytes = readFileSync(file);
  const packed = gzipSync(bytes, { level: 9 });
  raw += bytes.length;
  gz += packed.length;
  if (packed.length < bytes.length) writeFileSync(`${file}.gz`, packed);
}
sync(dist, final);
rmSync(dist, { recursive: true, force: true });
console.log(`dashboard: dist/ built, ${(raw / 1024).toFixed(1)} KiB (${(gz / 1024).toFixed(1)} KiB gzipped)`);

/** Makes `to` hold exactly the files of `from`, rewriting only those that differ. */
function sync(from, to) {
  const want = new Set();
  for (const file of walk(from)) {
    const rel = file.slice(from.length + 1);
    want.add(rel);
    const dest = join(to, rel);
    const bytes = readFileSync(file);
    if (existsSync(dest) && readFileSync(dest).equals(bytes)) continue;
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, bytes);
  }
  if (existsSync(to)) for (const file of [...walk(to)]) if (!want.has(file.slice(to.length + 1))) rmSync(file);
}

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else yield p;
  }
}

/** The app icon as a PNG: a rounded dark square with a light rail, drawn pixel by pixel. */
function icon(n) {
  const px = Buffer.alloc(n * (n * 4 + 1));
  const r = n * 0.22;
  for (let y = 0; y < n; y++) {
    px[y * (n * 4 + 1)] = 0; // filter: none
    for (let x = 0; x < n; x++) {
      const dx = Math.max(r - x, x - (n - 1 - r), 0);
      const dy = Math.max(r - y, y - (n - 1 - r), 0);
      const inside = dx * dx + dy * dy <= r * r;
      const u = x / n;
      const v = y / n;
      const rail = (v > 0.66 && v < 0.73 && u > 0.2 && u < 0.8) || (v > 0.33 && v < 0.7 && [0.28, 0.5, 0.72].some((c) => Math.abs(u - c) < 0.035)) || (Math.abs(v - (0.31 + 0.5 * (u - 0.5) ** 2)) < 0.035 && u > 0.17 && u < 0.83);
      const o = y * (n * 4 + 1) + 1 + x * 4;
      const [R, G, B] = rail ? [0x38, 0xbd, 0xf8] : [0x0f, 0x17, 0x2a];
      px[o] = R;
      px[o + 1] = G;
      px[o + 2] = B;
      px[o + 3] = inside ? 255 : 0;
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(n, 0);
  ihdr.writeUInt32BE(n, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(px)), chunk("IEND", Buffer.alloc(0))]);
}

function crc32(buf) {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
