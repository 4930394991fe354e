// The worker's draft answer and the exact JSON the answer endpoint accepts (labeling/schema.py:
// validate_answer). What the server would refuse is caught here first and named by field.
import type { AnswerValue, BoxValue, Field, FieldKind, FieldValue, FramesValue, MaskValue, Point, Schema, ShapeValue }
  from "../types";
import { closeContour, round } from "./geometry";

export const SPATIAL_KINDS: ReadonlySet<FieldKind> = new Set([
  "length", "angle", "points", "bounding_box", "contour", "freehand", "brush_mask",
]);
export const CHOICE_KINDS: ReadonlySet<FieldKind> = new Set(["single_choice", "multiple_choice", "yes_no_unsure"]);
export const YES_NO_UNSURE = ["yes", "no", "unsure"] as const;
/** The reasons a worker picks from to skip a task (routing rules can send such items on: skipped_as). */
export const SKIP_REASONS = ["poor image quality", "not the view or structure asked for", "cannot tell"];

/** What the screen holds while the worker answers: numbers as typed, shapes in image pixels. */
export type DraftValue = string | string[] | ShapeValue | BoxValue | MaskValue | FramesValue | null | undefined;
export type Draft = Record<string, DraftValue>;

export interface Serialized { value: AnswerValue; problems: Record<string, string> }

function isEmpty(value: unknown): boolean {
  return value === null || value === undefined || value === "" || (Array.isArray(value) && value.length === 0);
}

function matches(value: unknown, allowed: string[]): boolean {
  if (Array.isArray(value)) return value.some((item) => allowed.includes(String(item)));
  return allowed.includes(value as string);
}

/** Fields that apply given the answers so far (their show_if condition holds). */
export function visibleFields(schema: Schema, draft: Draft): Field[] {
  return schema.fields.filter((field) => !field.show_if || matches(draft[field.show_if.field], field.show_if.in));
}

export function optionsOf(field: Field): { value: string; label: string; shortcut?: string }[] {
  if (field.kind === "yes_no_unsure") {
    const shortcuts: Record<string, string> = { yes: "y", no: "n", unsure: "u" };
    return YES_NO_UNSURE.map((value) => ({ value, label: value[0].toUpperCase() + value.slice(1), shortcut: shortcuts[value] }));
  }
  return (field.options ?? []).map((option) => ({ ...option, label: option.label ?? option.value }));
}

const roundPoints = (points: Point[]): Point[] => points.map(([x, y]) => [round(x, 2), round(y, 2)] as Point);

function withInstance<T extends object>(value: T, instance: string | undefined): T {
  return instance ? { ...value, instance } : value;
}

function serializeField(field: Field, draft: DraftValue): FieldValue {
  switch (field.kind) {
    case "single_choice":
    case "yes_no_unsure":
    case "text":
      return draft as string;
    case "multiple_choice":
      return [...(draft as string[])];
    case "number": {
      const text = String(draft).trim().replace(",", ".");
      const number = Number(text);
      if (text === "" || !Number.isFinite(number)) throw new Error("a number");
      if (field.min !== undefined && number < field.min) throw new Error(`at least ${field.min}${unit(field)}`);
      if (field.max !== undefined && number > field.max) throw new Error(`at most ${field.max}${unit(field)}`);
      return number;
    }
    case "length":
    case "angle":
    case "points": {
      const shape = draft as ShapeValue;
      const needed = field.kind === "length" ? 2 : field.kind === "angle" ? 3 : undefined;
      if (needed !== undefined && shape.points.length !== needed) throw new Error(`exactly ${needed} points`);
      if (field.kind === "points") {
        if (field.min !== undefined && shape.points.length < field.min) throw new Error(`at least ${field.min} points`);
        if (field.max !== undefined && shape.points.length > field.max) throw new Error(`at most ${field.max} points`);
      }
      return withInstance({ frame: shape.frame, points: roundPoints(shape.points) }, shape.instance);
    }
    case "contour":
    case "freehand": {
      const shape = draft as ShapeValue;
      const closed = closeContour(shape.points);
      if (!closed) throw new Error("draw an outline of at least 3 points around an area");
      return withInstance({ frame: shape.frame, points: closed }, shape.instance);
    }
    case "bounding_box": {
      const box = draft as BoxValue;
      const x = Math.min(box.x, box.x + box.width);
      const y = Math.min(box.y, box.y + box.height);
      const width = Math.abs(box.width);
      const height = Math.abs(box.height);
      if (width === 0 || height === 0) throw new Error("a box needs a width and a height");
      return withInstance({ frame: box.frame, x: round(x, 2), y: round(y, 2), width: round(width, 2),
        height: round(height, 2) }, box.instance);
    }
    case "brush_mask": {
      const mask = draft as MaskValue;
      if (!mask.rle.some((run, index) => index % 2 === 1 && run > 0)) throw new Error("paint the area");
      return withInstance({ frame: mask.frame, rows: mask.rows, columns: mask.columns, rle: [...mask.rle] },
        mask.instance);
    }
    case "frame_selection": {
      const frames = draft as FramesValue;
      const labels = field.labels ?? [];
      const missing = labels.filter((label) => !Number.isInteger(frames[label]));
      if (missing.length) throw new Error(`mark ${missing.join(" and ")}`);
      const value: Record<string, number> = {};
      for (const label of labels) value[label] = frames[label];
      return withInstance(value, frames.instance) as FramesValue;
    }
  }
}

function unit(field: Field): string {
  return field.unit ? ` ${field.unit}` : "";
}

/** The answer as the API takes it: hidden and empty fields left out, numbers parsed, shapes
 * rounded and closed; `problems` names each field the server would refuse (required, range...). */
export function serializeAnswer(schema: Schema, draft: Draft): Serialized {
  const value: AnswerValue = {};
  const problems: Record<string, string> = {};
  for (const field of visibleFields(schema, draft)) {
    const given = draft[field.key];
    if (isEmpty(given)) {
      if (field.required) problems[field.key] = field.kind === "frame_selection" ? `mark ${(field.labels ?? []).join(" and ")}` : "required";
      continue;
    }
    try {
      value[field.key] = serializeField(field, given);
    } catch (error) {
      problems[field.key] = (error as Error).message;
    }
  }
  return { value, problems };
}

/** A stored answer (another worker's, a consensus, a pre-label) as an editable draft. */
export function draftFromAnswer(schema: Schema, answer: Record<string, unknown>): Draft {
  const draft: Draft = {};
  for (const field of schema.fields) {
    const value = answer[field.key];
    if (value === undefined || value === null) continue;
    draft[field.key] = field.kind === "number" ? String(value) : (structuredClone(value) as DraftValue);
  }
  return draft;
}

/** Where a task's draft starts: the model's pre-label (the task payload's `prelabel`, {field: value})
 * when it fills a field of the schema, else blank. `prefilled` names the fields it filled; an empty
 * list means the worker starts blank and the answer does not count as started from the pre-label. */
export function startDraft(schema: Schema, prelabel: Record<string, unknown> | null | undefined):
  { draft: Draft; prefilled: string[] } {
  if (!prelabel || typeof prelabel !== "object" || Array.isArray(prelabel)) return { draft: {}, prefilled: [] };
  const draft = draftFromAnswer(schema, prelabel);
  return { draft, prefilled: Object.keys(draft) };
}

/** The answer endpoint's body: the value, and `from_prelabel` when the draft started from the model's
 * pre-label (the server then records which pre-label the worker saw). */
export function answerBody(value: AnswerValue, prefilled: string[]): { value: AnswerValue; from_prelabel?: true } {
  return prefilled.length ? { value, from_prelabel: true } : { value };
}

/** One line a reviewer reads for a field of an answer: the choice, the number with its unit, a
 * shape's size. */
export function describeValue(field: Field, value: unknown): string {
  if (value === null || value === undefined || value === "") return "—";
  if (Array.isArray(value)) return value.join(", ");
  if (typeof value !== "object") return field.kind === "number" ? `${value}${unit(field)}` : String(value);
  const shape = value as Record<string, unknown>;
  const size = ["length_mm", "length_px", "area_mm2", "area_px", "degrees"].find((key) => key in shape);
  const frame = "frame" in shape ? ` on frame ${shape.frame}` : "";
  if (field.kind === "frame_selection") {
    return (field.labels ?? []).map((label) => `${label} ${shape[label] ?? "?"}`).join(", ");
  }
  if (size === "area_mm2") return `${(Number(shape[size]) / 100).toFixed(2)} cm²${frame}`;
  if (size) {
    const units: Record<string, string> = { length_mm: "mm", length_px: "px", area_px: "px²", degrees: "°" };
    return `${Number(shape[size]).toFixed(1)} ${units[size]}${frame}`;
  }
  if ("points" in shape) return `${(shape.points as unknown[]).length} points${frame}`;
  return `drawn${frame}`;
}
