// Generates src/api-types.ts, the dashboard's wire types, from the server's OpenAPI document
// (`components.schemas`, which schemars derives from the Rust types the handlers parse and
// answer with), so the dashboard cannot drift from the server unnoticed.
//
//   node gen-types.mjs            # writes src/api-types.ts
//   node gen-types.mjs --check    # fails (exit 1, with a diff) when src/api-types.ts is stale
//   node gen-types.mjs --from F   # reads the document from file F (e.g. a saved /v1/openapi.json)
//
// The document comes from `$HANDRAIL_BIN openapi` when HANDRAIL_BIN is set, else from
// `cargo run -q -p handrail-server -- openapi` (a hidden command: it prints the document
// without starting a server). scripts/test-dashboard.sh runs --check after building the server.
//
// The converter knows only the JSON Schema subset schemars emits for our types: `type`
// (one or a list, `"null"` for Option), objects with `properties`/`required`/
// `additionalProperties`, arrays with `items`, `enum`, `const`, `oneOf`/`anyOf`, `$ref` to
// `#/components/schemas/…`, `true`/`{}` (any JSON: `unknown`). Anything else stops it with
// an error rather than a wrong type.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const target = join(here, "src", "api-types.ts");
const args = process.argv.slice(2);
const check = args.includes("--check");
const fromIndex = args.indexOf("--from");
const from = fromIndex >= 0 ? args[fromIndex + 1] : undefined;
const regenerate = "node server/dashboard/gen-types.mjs";

/** Keywords that only annotate or constrain values, and say nothing a TypeScript type can. */
const ANNOTATIONS = new Set(["description", "title", "default", "examples", "format", "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "readOnly", "writeOnly", "deprecated"]);

function readDocument() {
  if (from) return readFileSync(from, "utf8");
  const opts = { cwd: root, encoding: "utf8", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "inherit"] };
  if (process.env.HANDRAIL_BIN) return execFileSync(process.env.HANDRAIL_BIN, ["openapi"], opts);
  return execFileSync("cargo", ["run", "-q", "-p", "handrail-server", "--", "openapi"], opts);
}

class Unsupported extends Error {}

/** The TypeScript type of a schema; `at` names where it is, for errors. */
function typeOf(schema, at, indent = "") {
  if (schema === true) return "unknown";
  if (schema === false) return "never";
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) throw new Unsupported(`${at}: not a schema`);
  const keys = Object.keys(schema).filter((k) => !ANNOTATIONS.has(k));
  const known = new Set(["$ref", "const", "enum", "oneOf", "anyOf", "type", "properties", "required", "additionalProperties", "items"]);
  const unknown = keys.filter((k) => !known.has(k));
  if (unknown.length) throw new Unsupported(`${at}: unsupported keyword(s) ${unknown.join(", ")}`);

  if ("$ref" in schema) {
    const m = /^#\/components\/schemas\/([A-Za-z_][A-Za-z0-9_]*)$/.exec(schema.$ref);
    if (!m) throw new Unsupported(`${at}: $ref ${schema.$ref} is not a component`);
    if (keys.length > 1) throw new Unsupported(`${at}: $ref beside ${keys.filter((k) => k !== "$ref").join(", ")}`);
    return m[1];
  }
  if ("const" in schema) return JSON.stringify(schema.const);
  if ("enum" in schema) return union(schema.enum.map((v) => JSON.stringify(v)));
  for (const k of ["oneOf", "anyOf"]) {
    if (k in schema) {
      if (keys.length > 1) throw new Unsupported(`${at}: ${k} beside ${keys.filter((x) => x !== k).join(", ")}`);
      return union(schema[k].map((s, i) => typeOf(s, `${at}.${k}[${i}]`, indent)));
    }
  }
  if (!("type" in schema)) {
    if (keys.length) throw new Unsupported(`${at}: ${keys.join(", ")} without a type`);
    return "unknown";
  }
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  return union(types.map((t) => primitive(t, schema, at, indent)));
}

function primitive(t, schema, at, indent) {
  switch (t) {
    case "string":
      return "string";
    case "integer":
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "null":
      return "null";
    case "array": {
      const item = "items" in schema ? typeOf(schema.items, `${at}.items`, indent) : "unknown";
      return /[|&]/.test(item) ? `(${item})[]` : `${item}[]`;
    }
    case "object":
      return objectType(schema, at, indent);
    default:
      throw new Unsupported(`${at}: type ${t}`);
  }
}

/** An object type: its members one per line, indented by `indent` + two spaces. */
function objectType(schema, at, indent) {
  const props = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  for (const r of required) if (!(r in props)) throw new Unsupported(`${at}: required ${r} is not a property`);
  const extra = schema.additionalProperties;
  const lines = [];
  for (const [name, prop] of Object.entries(props)) {
    lines.push(...doc(prop, `${indent}  `));
    const key = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : JSON.stringify(name);
    lines.push(`${indent}  ${key}${required.has(name) ? "" : "?"}: ${typeOf(prop, `${at}.${name}`, `${indent}  `)};`);
  }
  // Absent or true: serde keeps unknown members of such maps (or ignores them on input); the
  // dashboard reads only named members, so a closed type loses nothing for a struct. A map
  // with no named members is a record.
  if (extra !== undefined && extra !== true && extra !== false) {
    lines.push(`${indent}  [key: string]: ${typeOf(extra, `${at}.additionalProperties`, `${indent}  `)};`);
  } else if (!Object.keys(props).length) {
    return extra === false ? "Record<string, never>" : "Record<string, unknown>";
  }
  return `{\n${lines.join("\n")}\n${indent}}`;
}

function union(parts) {
  const seen = [...new Set(parts)];
  return seen.length ? seen.join(" | ") : "never";
}

/** A schema's description as a doc comment. */
function doc(schema, indent) {
  const text = schema && typeof schema === "object" ? schema.description : undefined;
  if (!text) return [];
  const body = text.replaceAll("*/", "*\\/").split("\n");
  if (body.length === 1) return [`${indent}/** ${body[0]} */`];
  return [`${indent}/**`, ...body.map((l) => (l ? `${indent} * ${l}` : `${indent} *`)), `${indent} */`];
}

function generate(text) {
  const document = JSON.parse(text);
  const schemas = document?.components?.schemas;
  if (!schemas || typeof schemas !== "object") throw new Unsupported("the document has no components.schemas");
  const out = [
    "// GENERATED FILE, DO NOT EDIT. The server's wire types, from the OpenAPI document of v1",
    "// (`handrail openapi`, the JSON `GET /v1/openapi.json` serves), whose schemas schemars",
    "// derives from the Rust types. Regenerate with:",
    `//   ${regenerate}`,
    "// scripts/test-dashboard.sh fails when this file differs from what that command writes.",
    "",
  ];
  for (const name of Object.keys(schemas).sort()) {
    const schema = schemas[name];
    const at = `components.schemas.${name}`;
    out.push(...doc(schema, ""));
    // A plain struct (named members, nothing else) is an interface; anything else a type alias.
    const structural = typeof schema === "object" ? Object.keys(schema).filter((k) => !ANNOTATIONS.has(k)) : [];
    const plainStruct =
      schema.type === "object" &&
      Object.keys(schema.properties ?? {}).length > 0 &&
      [undefined, false].includes(schema.additionalProperties) &&
      structural.every((k) => ["type", "properties", "required", "additionalProperties"].includes(k));
    if (plainStruct) out.push(`export interface ${name} ${objectType(schema, at, "")}`);
    else out.push(`export type ${name} = ${typeOf(schema, at)};`);
    out.push("");
  }
  return out.join("\n");
}

let generated;
try {
  generated = generate(readDocument());
} catch (e) {
  console.error(`gen-types: ${e instanceof Unsupported ? `cannot convert ${e.message}` : e.message}`);
  process.exit(2);
}

if (!check) {
  writeFileSync(target, generated);
  console.log(`gen-types: wrote ${relative(root, target)}`);
} else {
  let current = "";
  try {
    current = readFileSync(target, "utf8");
  } catch {}
  if (current !== generated) {
    const dir = mkdtempSync(join(tmpdir(), "handrail-api-types-"));
    const fresh = join(dir, "api-types.ts");
    writeFileSync(fresh, generated);
    spawnSync("diff", ["-u", "--label", `${relative(root, target)} (committed)`, "--label", "(generated now)", target, fresh], { stdio: "inherit" });
    rmSync(dir, { recursive: true, force: true });
    console.error(`\ngen-types: ${relative(root, target)} is stale: the server's wire types changed. Run \`${regenerate}\` and commit the result (then fix what \`tsc\` reports).`);
    process.exit(1);
  }
  console.log(`gen-types: ${relative(root, target)} is up to date`);
}
