// Between answers and what the viewer draws: a field's value as overlay shapes, and a drawn shape
// (pixel points from the viewer) as the field's new value. Pure, so the rules are tested alone.
import type { BoxValue, Field, FieldKind, MaskValue, Point, Schema, ShapeValue } from "../types";
import type { DrawingKind, DrawnShape, OverlayShape, PaintedMask } from "../viewer/Viewer";
import { SPATIAL_KINDS, visibleFields, type Draft, type DraftValue } from "./answers";

/** The viewer tool that draws a field kind (contour and freehand both trace an outline). */
export const DRAWING_KIND: Partial<Record<FieldKind, DrawingKind>> = {
  length: "length", angle: "angle", points: "points", bounding_box: "bounding_box", contour: "contour",
  freehand: "contour",
};

/** Colours for fields (the worker's own drawing) and for workers (overlays on the review screen). */
export const FIELD_COLORS = ["#00e5ff", "#ffd60a", "#7cff6b", "#ff7ad9", "#ff9f1c", "#b8a9ff"];
export const WORKER_COLORS = ["#ff6b6b", "#4dabf7", "#ffd43b", "#69db7c", "#da77f2", "#ffa94d", "#38d9a9", "#f783ac"];
export const CONSENSUS_COLOR = "#ffffff";

/** Overlay shapes of an answer's spatial fields. `prefix` keeps ids apart ("draft", "W1", "consensus"). */
export function shapesOf(schema: Schema, answer: Record<string, unknown>, options: {
  prefix: string; color?: string; locked: boolean; label?: string; defaultInstance: string;
}): OverlayShape[] {
  const shapes: OverlayShape[] = [];
  visibleFields(schema, answer as Draft).forEach((field, index) => {
    const kind = DRAWING_KIND[field.kind];
    const value = answer[field.key] as ShapeValue | BoxValue | undefined | null;
    if (!kind || !value || typeof value !== "object") return;
    const color = options.color ?? FIELD_COLORS[index % FIELD_COLORS.length];
    const instance = value.instance ?? options.defaultInstance;
    const label = options.label ? `${options.label} ${field.label ?? field.key}` : field.label ?? field.key;
    const base = { kind, instance, frame: value.frame ?? 1, color, locked: options.locked, label };
    if (field.kind === "bounding_box") {
      const box = value as BoxValue;
      shapes.push({ ...base, id: `${options.prefix}:${field.key}`,
        points: [[box.x, box.y], [box.x + box.width, box.y + box.height]] });
    } else if (field.kind === "points") {
      (value as ShapeValue).points.forEach((point, position) =>
        shapes.push({ ...base, id: `${options.prefix}:${field.key}:${position}`, points: [point] }));
    } else {
      shapes.push({ ...base, id: `${options.prefix}:${field.key}`, points: (value as ShapeValue).points });
    }
  });
  return shapes;
}

/** While a field's tool is in hand its own shape is locked, so that the worker's next stroke draws
 * anew (and replaces it) instead of grabbing the old outline; put the tool down to drag handles. */
export function lockWhileDrawing(shapes: OverlayShape[], activeField: string | null): OverlayShape[] {
  if (!activeField) return shapes;
  return shapes.map((shape) => (shape.id === `draft:${activeField}` || shape.id.startsWith(`draft:${activeField}:`)
    ? { ...shape, locked: true } : shape));
}

/** The field a new drawing is for: the active field, when its tool drew it. */
export function fieldForDrawing(schema: Schema, activeField: string | null, kind: DrawingKind): Field | null {
  const field = schema.fields.find((candidate) => candidate.key === activeField);
  return field && DRAWING_KIND[field.kind] === kind ? field : null;
}

/** The draft after a drawing: a new shape for `field`, or an edit of one of the draft's own shapes. */
export function applyDrawing(schema: Schema, draft: Draft, activeField: string | null, shape: DrawnShape): Draft | null {
  if (shape.id) {
    const [prefix, key, position] = shape.id.split(":");
    const field = schema.fields.find((candidate) => candidate.key === key);
    if (prefix !== "draft" || !field) return null;
    return { ...draft, [key]: valueFor(field, draft[key], shape, position === undefined ? null : Number(position)) };
  }
  const field = fieldForDrawing(schema, activeField, shape.kind);
  if (!field) return null;
  return { ...draft, [field.key]: valueFor(field, draft[field.key], shape, null) };
}

function valueFor(field: Field, current: DraftValue, shape: DrawnShape, position: number | null): DraftValue {
  const located = { frame: shape.frame, instance: shape.instance };
  if (field.kind === "bounding_box") {
    const [[x0, y0], [x1, y1]] = shape.points;
    return { ...located, x: Math.min(x0, x1), y: Math.min(y0, y1), width: Math.abs(x1 - x0), height: Math.abs(y1 - y0) };
  }
  if (field.kind === "points") {
    const previous = current as ShapeValue | null | undefined;
    // Points of one field share a frame: a point on another frame starts the set again.
    const kept: Point[] = previous && previous.frame === shape.frame && previous.instance === shape.instance
      ? [...previous.points] : [];
    if (position !== null && position < kept.length) {
      kept[position] = shape.points[0];
    } else {
      kept.push(shape.points[0]);
      if (field.max !== undefined && kept.length > field.max) kept.splice(0, kept.length - field.max);
    }
    return { ...located, points: kept };
  }
  return { ...located, points: shape.points };
}

/** The brush field of a schema, if it has one (one labelmap per viewer). */
export function brushField(schema: Schema): Field | null {
  return schema.fields.find((field) => field.kind === "brush_mask") ?? null;
}

export function maskOf(draft: Draft, field: Field | null): PaintedMask | null {
  const value = field ? (draft[field.key] as MaskValue | null | undefined) : null;
  return value && value.instance ? { instance: value.instance, frame: value.frame, rows: value.rows,
    columns: value.columns, rle: value.rle } : null;
}

export function isSpatial(field: Field): boolean {
  return SPATIAL_KINDS.has(field.kind);
}
