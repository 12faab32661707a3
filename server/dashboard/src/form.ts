// An editor for a payload: a form generated from the request's JSON Schema where the
// schema is simple enough to be a form (an object of strings, numbers, booleans, enums and
// nested objects), else a JSON text editor. Either way `read()` gives the edited value or
// throws with a message for the person; the server (or, for an encrypted payload, the
// browser package) checks the edit against the schema again before anything is decided.

import { h } from "./dom";
import { visible } from "./wasm";

/**
 * A line under a text field that shows its value with bidi controls and other invisible
 * characters revealed (`<U+202E>`), present only while the value holds one: the field
 * itself must show the raw text, or editing would change it.
 */
function revealed(read: () => string): { el: HTMLElement; update(): void } {
  const el = h("small", { class: "hint reveal", "data-testid": "reveal", hidden: true });
  const update = () => {
    const raw = read();
    const shown = visible(raw);
    el.hidden = shown === raw;
    el.textContent = shown === raw ? "" : `Holds invisible characters: ${shown}`;
  };
  return { el, update };
}

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  enum?: unknown[];
  const?: unknown;
  title?: string;
  description?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  additionalProperties?: boolean | Schema;
};

export interface Editor {
  el: HTMLElement;
  /** The edited value; throws an Error whose message says what is wrong. */
  read(): unknown;
  kind: "form" | "json";
}

export function editor(value: unknown, schema: unknown, onChange: () => void): Editor {
  if (formable(schema as Schema, value, 0)) return form(value as Record<string, unknown>, schema as Schema, onChange);
  return jsonEditor(value, onChange);
}

function typeOf(s: Schema): string | undefined {
  if (Array.isArray(s.type)) return s.type.find((t) => t !== "null");
  if (s.type) return s.type;
  if (s.enum) return typeof s.enum[0] === "number" ? "number" : "string";
  return undefined;
}

function formable(s: Schema | undefined, value: unknown, depth: number): boolean {
  if (!s || typeof s !== "object" || depth > 4) return false;
  const t = typeOf(s);
  if (t === "object") {
    if (!s.properties || typeof value !== "object" || value === null || Array.isArray(value)) return false;
    // Every member of the value must have a field, or the form would drop it.
    for (const k of Object.keys(value)) if (!(k in s.properties)) return false;
    return Object.entries(s.properties).every(([k, p]) => formable(p, (value as Record<string, unknown>)[k], depth + 1));
  }
  if (value !== undefined && value !== null && t !== undefined && !matches(t, value)) return false;
  return t === "string" || t === "number" || t === "integer" || t === "boolean";
}

function matches(t: string, v: unknown): boolean {
  if (t === "integer") return Number.isInteger(v);
  return typeof v === t;
}

interface Field {
  read(): unknown;
}

function form(value: Record<string, unknown>, schema: Schema, onChange: () => void): Editor {
  const el = h("div", { class: "schema-form" });
  const root = objectFields(value, schema, "", el, onChange);
  return { el, read: () => root.read(), kind: "form" };
}

function objectFields(value: Record<string, unknown>, schema: Schema, path: string, into: HTMLElement, onChange: () => void): Field {
  const fields: [string, Field, boolean][] = [];
  const required = new Set(schema.required ?? []);
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const here = path ? `${path}.${name}` : name;
    const present = name in value;
    if (typeOf(prop) === "object") {
      const box = h("fieldset", { class: "group" }, h("legend", null, prop.title ?? name));
      into.append(box);
      const inner = objectFields((value[name] as Record<string, unknown>) ?? {}, prop, here, box, onChange);
      fields.push([name, inner, present || required.has(name)]);
    } else {
      const f = scalarField(name, here, value[name], prop, required.has(name), onChange);
      into.append(f.el);
      fields.push([name, f, true]);
    }
  }
  return {
    read() {
      const out: Record<string, unknown> = {};
      for (const [name, f, keep] of fields) {
        const v = f.read();
        if (v !== undefined && keep) out[name] = v;
      }
      return out;
    },
  };
}

function scalarField(name: string, path: string, value: unknown, s: Schema, required: boolean, onChange: () => void): Field & { el: HTMLElement } {
  const t = typeOf(s)!;
  const id = `f-${path.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const label = h("label", { for: id }, visible(String(s.title ?? name)), required ? h("span", { class: "req", title: "required" }, " *") : null);
  const hint = s.description ? h("small", { class: "hint" }, visible(String(s.description))) : null;
  let reveal: ReturnType<typeof revealed> | null = null;
  let input: HTMLInputElement | HTMLSelectElement;
  if (s.enum) {
    input = h("select", { id, name: path, "data-field": path });
    if (!required) input.append(h("option", { value: "" }, "—"));
    for (const opt of s.enum) input.append(h("option", { value: JSON.stringify(opt) }, visible(String(opt))));
    input.value = value === undefined ? "" : JSON.stringify(value);
  } else if (t === "boolean") {
    input = h("input", { id, name: path, type: "checkbox", "data-field": path });
    input.checked = value === true;
  } else if (t === "number" || t === "integer") {
    input = h("input", {
      id,
      name: path,
      type: "number",
      inputmode: t === "integer" ? "numeric" : "decimal",
      step: t === "integer" ? 1 : "any",
      min: s.minimum,
      max: s.maximum,
      required,
      "data-field": path,
    });
    input.value = value === undefined || value === null ? "" : String(value);
  } else {
    const type = s.format === "email" ? "email" : s.format === "uri" ? "url" : "text";
    input = h("input", { id, name: path, type, required, minlength: s.minLength, maxlength: s.maxLength, "data-field": path });
    if (s.pattern) input.setAttribute("pattern", s.pattern);
    input.value = typeof value === "string" ? value : "";
    const text = input;
    reveal = revealed(() => text.value);
    reveal.update();
    input.addEventListener("input", reveal.update);
  }
  input.addEventListener("input", onChange);
  input.addEventListener("change", onChange);
  const el = h("div", { class: t === "boolean" ? "field check" : "field" }, label, input, reveal?.el, hint);
  return {
    el,
    read() {
      if (!input.checkValidity()) {
        throw new Error(`${s.title ?? path}: ${input.validationMessage}`);
      }
      if (input instanceof HTMLSelectElement) return input.value === "" ? undefined : JSON.parse(input.value);
      if (input.type === "checkbox") return input.checked;
      if (input.type === "number") {
        if (input.value === "") return undefined;
        const n = Number(input.value);
        if (t === "integer" && !Number.isInteger(n)) throw new Error(`${s.title ?? path}: a whole number`);
        return n;
      }
      return input.value === "" && !required && value === undefined ? undefined : input.value;
    },
  };
}

function jsonEditor(value: unknown, onChange: () => void): Editor {
  const area = h("textarea", { class: "json", spellcheck: "false", rows: 14, "aria-label": "payload (JSON)" });
  area.value = JSON.stringify(value, null, 2);
  const error = h("div", { class: "field-error", role: "alert" });
  const reveal = revealed(() => area.value);
  reveal.update();
  area.addEventListener("input", () => {
    reveal.update();
    try {
      JSON.parse(area.value);
      error.textContent = "";
    } catch (e) {
      error.textContent = (e as Error).message;
    }
    onChange();
  });
  return {
    el: h("div", { class: "json-editor" }, area, reveal.el, error),
    read() {
      try {
        return JSON.parse(area.value);
      } catch (e) {
        throw new Error(`Not valid JSON: ${(e as Error).message}`);
      }
    },
    kind: "json",
  };
}
