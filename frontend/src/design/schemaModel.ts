// The schema editor's model: a label schema (labeling/schema.py) as rows an admin edits field by
// field, and back. Numbers are kept as typed until the schema is built, so a half-typed "0." is
// not lost; keys the editor has no control for (agreement tolerances it does not know, future
// settings) travel through untouched. `checkFields` names what the server's validate_schema would
// refuse, field by field, before anything is sent.
import type { ChoiceOption, Field, FieldKind, Schema } from "../types";
import { RESERVED_KEYS } from "../labeling/shortcuts";

export const FIELD_KINDS: { kind: FieldKind; label: string }[] = [
  { kind: "single_choice", label: "Single choice" },
  { kind: "multiple_choice", label: "Multiple choice" },
  { kind: "yes_no_unsure", label: "Yes / no / unsure" },
  { kind: "number", label: "Number" },
  { kind: "text", label: "Free text" },
  { kind: "frame_selection", label: "Frame selection (ED/ES…)" },
  { kind: "length", label: "Length (mm)" },
  { kind: "angle", label: "Angle" },
  { kind: "points", label: "Points" },
  { kind: "bounding_box", label: "Bounding box" },
  { kind: "contour", label: "Contour (closed outline)" },
  { kind: "freehand", label: "Freehand outline" },
  { kind: "brush_mask", label: "Brush mask" },
];

export const KIND_LABELS = Object.fromEntries(FIELD_KINDS.map(({ kind, label }) => [kind, label])) as
  Record<FieldKind, string>;

/** Kinds whose answers are picked from options the admin lists. */
export const OPTION_KINDS: ReadonlySet<FieldKind> = new Set(["single_choice", "multiple_choice"]);
/** Kinds a show_if condition can look at (their answers are values from a known list). */
export const CONDITION_KINDS: ReadonlySet<FieldKind> = new Set(["single_choice", "multiple_choice", "yes_no_unsure"]);
/** Kinds with a tool on the image: they may have a tool shortcut. */
export const TOOL_KINDS: ReadonlySet<FieldKind> = new Set([
  "length", "angle", "points", "bounding_box", "contour", "freehand", "brush_mask",
]);

/** How close two answers must be to count as agreeing (labeling/agreement.py), by kind. */
export const TOLERANCES: Partial<Record<FieldKind, { key: string; label: string; hint: string }>> = {
  number: { key: "tolerance", label: "Agreement tolerance", hint: "in the field's unit; default 5 % of the range" },
  frame_selection: { key: "frame_tolerance", label: "Agreement tolerance (frames)", hint: "default 1" },
  length: { key: "tolerance", label: "Agreement tolerance (share)", hint: "share of the length; default 0.1" },
  angle: { key: "tolerance", label: "Agreement tolerance (degrees)", hint: "default 10" },
  points: { key: "tolerance_px", label: "Agreement tolerance (pixels)", hint: "mean distance; default 10" },
  bounding_box: { key: "min_dice", label: "Minimum Dice to agree", hint: "default 0.5" },
  contour: { key: "min_dice", label: "Minimum Dice to agree", hint: "default 0.8" },
  freehand: { key: "min_dice", label: "Minimum Dice to agree", hint: "default 0.8" },
  brush_mask: { key: "min_dice", label: "Minimum Dice to agree", hint: "default 0.8" },
  multiple_choice: { key: "min_jaccard", label: "Minimum Jaccard to agree", hint: "default 1 (the same set)" },
};

export interface EditorOption { value: string; label: string; shortcut: string }

export interface EditorField {
  /** The row's identity while editing (keys change as the admin types). */
  uid: string;
  key: string;
  kind: FieldKind;
  label: string;
  help: string;
  required: boolean;
  options: EditorOption[];
  min: string;
  max: string;
  step: string;
  unit: string;
  maxLength: string;
  labels: string[];
  shortcut: string;
  tolerance: string;
  showIf: { field: string; in: string[] } | null;
  /** Keys of the stored field the editor has no control for, kept as they were. */
  extra: Record<string, unknown>;
}

const KNOWN_KEYS = new Set(["key", "kind", "label", "help", "required", "options", "min", "max", "step", "unit",
  "max_length", "labels", "shortcut", "show_if"]);

let uidCounter = 0;
export function nextUid(): string {
  uidCounter += 1;
  return `f${uidCounter}`;
}

const text = (value: unknown): string => (value === undefined || value === null ? "" : String(value));

export function fromField(field: Field): EditorField {
  const raw = field as unknown as Record<string, unknown>;
  const tolerance = TOLERANCES[field.kind];
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!KNOWN_KEYS.has(key) && key !== tolerance?.key) extra[key] = value;
  }
  return {
    uid: nextUid(),
    key: field.key,
    kind: field.kind,
    label: field.label ?? "",
    help: field.help ?? "",
    required: Boolean(field.required),
    options: (field.options ?? []).map((option) => ({ value: option.value, label: option.label ?? "",
      shortcut: option.shortcut ?? "" })),
    min: text(field.min),
    max: text(field.max),
    step: text(field.step),
    unit: field.unit ?? "",
    maxLength: text(field.max_length),
    labels: [...(field.labels ?? [])],
    shortcut: field.shortcut ?? "",
    tolerance: tolerance ? text(raw[tolerance.key]) : "",
    showIf: field.show_if ? { field: field.show_if.field, in: [...field.show_if.in] } : null,
    extra,
  };
}

export function fromSchema(schema: Schema): EditorField[] {
  return (schema.fields ?? []).map(fromField);
}

/** A number typed in a box: undefined when empty, NaN when it is not a number. */
export function parseNumber(value: string): number | undefined {
  const trimmed = value.trim().replace(",", ".");
  if (trimmed === "") return undefined;
  return Number(trimmed);
}

/** The schema JSON the API takes. Settings that do not apply to a field's kind are left out. */
export function toSchema(fields: EditorField[]): Schema {
  return {
    fields: fields.map((row) => {
      const field: Record<string, unknown> = { key: row.key.trim(), kind: row.kind };
      if (row.label.trim()) field.label = row.label.trim();
      if (row.help.trim()) field.help = row.help.trim();
      if (row.required) field.required = true;
      if (OPTION_KINDS.has(row.kind)) {
        field.options = row.options.map((option) => {
          const out: ChoiceOption = { value: option.value.trim() };
          if (option.label.trim()) out.label = option.label.trim();
          if (option.shortcut.trim()) out.shortcut = option.shortcut.trim().toLowerCase();
          return out;
        });
      }
      if (row.kind === "number" || row.kind === "points") {
        for (const [name, value] of [["min", row.min], ["max", row.max]] as const) {
          const number = parseNumber(value);
          if (number !== undefined) field[name] = number;
        }
      }
      if (row.kind === "number") {
        const step = parseNumber(row.step);
        if (step !== undefined) field.step = step;
        if (row.unit.trim()) field.unit = row.unit.trim();
      }
      if (row.kind === "text") {
        const maxLength = parseNumber(row.maxLength);
        if (maxLength !== undefined) field.max_length = maxLength;
      }
      if (row.kind === "frame_selection") field.labels = row.labels.map((label) => label.trim());
      if (TOOL_KINDS.has(row.kind) && row.shortcut.trim()) field.shortcut = row.shortcut.trim().toLowerCase();
      const tolerance = TOLERANCES[row.kind];
      const toleranceValue = tolerance ? parseNumber(row.tolerance) : undefined;
      if (tolerance && toleranceValue !== undefined) field[tolerance.key] = toleranceValue;
      if (row.showIf) field.show_if = { field: row.showIf.field, in: [...row.showIf.in] };
      return { ...field, ...row.extra } as unknown as Field;
    }),
  };
}

/** A fresh field of `kind` whose key is not taken yet. */
export function newField(kind: FieldKind, taken: string[]): EditorField {
  const base = kind === "yes_no_unsure" ? "finding" : kind === "frame_selection" ? "phases" : kind;
  let key = base;
  for (let number = 2; taken.includes(key); number += 1) key = `${base}_${number}`;
  return {
    uid: nextUid(), key, kind, label: "", help: "", required: false,
    options: OPTION_KINDS.has(kind) ? [{ value: "option_1", label: "Option 1", shortcut: "" },
      { value: "option_2", label: "Option 2", shortcut: "" }] : [],
    min: "", max: "", step: "", unit: "", maxLength: "",
    labels: kind === "frame_selection" ? ["ED", "ES"] : [],
    shortcut: "", tolerance: "", showIf: null, extra: {},
  };
}

/** Change a field's kind, keeping what still applies. */
export function changeKind(row: EditorField, kind: FieldKind): EditorField {
  const fresh = newField(kind, []);
  return {
    ...row, kind,
    options: OPTION_KINDS.has(kind) ? (row.options.length >= 2 ? row.options : fresh.options) : row.options,
    labels: kind === "frame_selection" && row.labels.length === 0 ? fresh.labels : row.labels,
    tolerance: kind === row.kind ? row.tolerance : "",
  };
}

/** The list with the item at `index` moved by `delta` places (unchanged at either end). */
export function move<T>(list: T[], index: number, delta: number): T[] {
  const target = index + delta;
  if (index < 0 || index >= list.length || target < 0 || target >= list.length) return list;
  const copy = [...list];
  const [item] = copy.splice(index, 1);
  copy.splice(target, 0, item);
  return copy;
}

/** The values a show_if condition may test for `field`. */
export function conditionValues(field: EditorField): { value: string; label: string }[] {
  if (field.kind === "yes_no_unsure") return ["yes", "no", "unsure"].map((value) => ({ value, label: value }));
  return field.options.filter((option) => option.value.trim())
    .map((option) => ({ value: option.value.trim(), label: option.label.trim() || option.value.trim() }));
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What the server would refuse, by field uid ("" for the schema as a whole), plus warnings that
 * do not stop a save (a shortcut the labeling screen keeps for itself). */
export function checkFields(fields: EditorField[]): { errors: Record<string, string[]>; warnings: Record<string, string[]> } {
  const errors: Record<string, string[]> = {};
  const warnings: Record<string, string[]> = {};
  const add = (target: Record<string, string[]>, uid: string, message: string) => {
    (target[uid] ??= []).push(message);
  };
  if (fields.length === 0) add(errors, "", "A schema needs at least one field.");
  const seen = new Map<string, number>();
  fields.forEach((row, index) => {
    const key = row.key.trim();
    if (!IDENTIFIER.test(key) || key.startsWith("_")) {
      add(errors, row.uid, "The key must be letters, digits and underscores, not starting with a digit or _.");
    } else if (seen.has(key)) {
      add(errors, row.uid, `The key "${key}" is already used by field ${seen.get(key)! + 1}.`);
    } else {
      seen.set(key, index);
    }
    if (!(row.kind in KIND_LABELS)) {
      add(errors, row.uid, `Unknown kind "${row.kind}"; one of ${FIELD_KINDS.map((option) => option.kind).join(", ")}.`);
    }
    if (OPTION_KINDS.has(row.kind)) {
      const values = row.options.map((option) => option.value.trim());
      if (values.length < 2) add(errors, row.uid, "A choice needs at least two options.");
      if (values.some((value) => !value)) add(errors, row.uid, "Every option needs a value.");
      if (new Set(values).size !== values.length) add(errors, row.uid, "Option values must be distinct.");
      const keys = row.options.map((option) => option.shortcut.trim().toLowerCase()).filter(Boolean);
      if (new Set(keys).size !== keys.length) add(errors, row.uid, "Option shortcuts must be distinct.");
      if (keys.some((key) => key.length !== 1)) add(errors, row.uid, "A shortcut is one key.");
      const reserved = keys.filter((key) => RESERVED_KEYS.has(key));
      if (reserved.length) {
        add(warnings, row.uid, `The labeling screen keeps ${reserved.map((key) => `"${key}"`).join(", ")} for itself; `
          + "another key will be used.");
      }
    }
    if (TOOL_KINDS.has(row.kind) && row.shortcut.trim()) {
      const key = row.shortcut.trim().toLowerCase();
      if (key.length !== 1) add(errors, row.uid, "A shortcut is one key.");
      else if (RESERVED_KEYS.has(key)) add(warnings, row.uid, `The labeling screen keeps "${key}" for itself; another key will be used.`);
    }
    for (const [name, value] of [["Minimum", row.min], ["Maximum", row.max], ["Step", row.step], ["Tolerance", row.tolerance],
      ["Maximum length", row.maxLength]] as const) {
      const number = parseNumber(value);
      if (number !== undefined && !Number.isFinite(number)) add(errors, row.uid, `${name} must be a number.`);
    }
    const low = parseNumber(row.min);
    const high = parseNumber(row.max);
    if ((row.kind === "number" || row.kind === "points") && low !== undefined && high !== undefined && low >= high) {
      add(errors, row.uid, "The minimum must be below the maximum.");
    }
    if (row.kind === "frame_selection") {
      const labels = row.labels.map((label) => label.trim());
      if (labels.length === 0 || labels.some((label) => !label)) add(errors, row.uid, "Name every frame to mark, e.g. ED and ES.");
      if (new Set(labels).size !== labels.length) add(errors, row.uid, "Frame labels must be distinct.");
    }
    if (row.showIf) {
      const earlier = fields.slice(0, index).find((candidate) => candidate.key.trim() === row.showIf!.field);
      if (!earlier) add(errors, row.uid, "“Show only if” must name a field above this one.");
      if (row.showIf.in.length === 0) add(errors, row.uid, "“Show only if” needs at least one answer to match.");
    }
  });
  return { errors, warnings };
}

/** The server's refusal of a schema ({"definition": {"<key>" | "fields[i]" | "fields": [...]}}) by
 * field uid, "" for what names no field. */
export function serverProblems(body: unknown, fields: EditorField[]): Record<string, string[]> {
  const problems: Record<string, string[]> = {};
  const add = (uid: string, messages: unknown) => {
    (problems[uid] ??= []).push(...[messages].flat().map(String));
  };
  if (!body || typeof body !== "object") return problems;
  for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
    if (name === "definition" && value && typeof value === "object" && !Array.isArray(value)) {
      for (const [where, messages] of Object.entries(value as Record<string, unknown>)) {
        const position = /^fields\[(\d+)\]$/.exec(where);
        const row = position ? fields[Number(position[1])] : fields.find((candidate) => candidate.key.trim() === where);
        add(row ? row.uid : "", row ? messages : [`${where}: ${[messages].flat().join(" ")}`]);
      }
    } else {
      add("", [`${name}: ${[value].flat().map((item) => typeof item === "string" ? item : JSON.stringify(item)).join(" ")}`]);
    }
  }
  return problems;
}
