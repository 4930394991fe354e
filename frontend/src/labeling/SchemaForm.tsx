// A label schema rendered as the worker's controls: choice buttons, numbers with units, text, and for
// spatial fields the tool that draws them on the image (with the size drawn, in mm where calibrated),
// frame marks for ED/ES. Used by the labeling screen, the review screen (corrections) and the schema
// editor's live preview, so a worker sees exactly what the admin previewed.
import type { Field, FramesValue, MaskValue, Schema, ShapeValue, BoxValue } from "../types";
import { optionsOf, SPATIAL_KINDS, visibleFields, type Draft, type DraftValue } from "./answers";
import { formatArea, formatLength, maskAreaPx, polygonAreaMm2, segmentLength, angleDegrees, type Calibration } from "./geometry";
import { keyLabel, type Shortcuts } from "./shortcuts";

export interface FramePosition { instance: string; frame: number; frames: number }

export interface SchemaFormProps {
  schema: Schema;
  draft: Draft;
  onChange: (key: string, value: DraftValue) => void;
  shortcuts: Shortcuts;
  activeField: string | null;
  onSelectField: (key: string | null) => void;
  position?: FramePosition | null;
  onGoTo?: (instance: string, frame: number) => void;
  problems?: Record<string, string>;
  calibration?: Calibration | null;
  disabled?: boolean;
}

const TOOL_VERBS: Partial<Record<Field["kind"], string>> = {
  length: "Measure", angle: "Measure angle", points: "Place points", bounding_box: "Draw box", contour: "Draw contour",
  freehand: "Draw freehand", brush_mask: "Paint",
};

function shapeSummary(field: Field, value: DraftValue, calibration: Calibration | null): string | null {
  if (!value || typeof value !== "object" || Array.isArray(value)) return null;
  if (field.kind === "brush_mask") {
    const mask = value as MaskValue;
    const area = maskAreaPx(mask.rle) * (calibration ? calibration.rowMm * calibration.columnMm : 1);
    return `${formatArea(area, calibration)} on frame ${mask.frame}`;
  }
  if (field.kind === "bounding_box") {
    const box = value as BoxValue;
    return `${Math.abs(box.width).toFixed(0)}×${Math.abs(box.height).toFixed(0)} px on frame ${box.frame}`;
  }
  const shape = value as ShapeValue;
  if (!shape.points?.length) return null;
  let size = `${shape.points.length} point${shape.points.length === 1 ? "" : "s"}`;
  if (field.kind === "length" && shape.points.length === 2) {
    size = formatLength(segmentLength(shape.points[0], shape.points[1], calibration), calibration);
  } else if (field.kind === "angle" && shape.points.length === 3) {
    size = `${angleDegrees(shape.points[0], shape.points[1], shape.points[2], calibration).toFixed(1)}°`;
  } else if ((field.kind === "contour" || field.kind === "freehand") && shape.points.length >= 3) {
    size = formatArea(polygonAreaMm2(shape.points, calibration), calibration);
  }
  return `${size} on frame ${shape.frame}`;
}

function FieldControl(props: SchemaFormProps & { field: Field }) {
  const { field, draft, onChange, shortcuts, activeField, onSelectField, position, onGoTo, calibration = null,
    disabled } = props;
  const value = draft[field.key];
  const id = `field-${field.key}`;
  const toolKey = shortcuts.forField.get(field.key);

  if (field.kind === "single_choice" || field.kind === "yes_no_unsure") {
    return (
      <div role="radiogroup" aria-labelledby={`${id}-label`} className="choices">
        {optionsOf(field).map((option) => {
          const key = shortcuts.forField.get(`${field.key}:${option.value}`);
          const checked = value === option.value;
          return (
            <button key={option.value} type="button" role="radio" aria-checked={checked} disabled={disabled}
              className={checked ? "choice selected" : "choice"} aria-keyshortcuts={key}
              onClick={() => onChange(field.key, checked && !field.required ? null : option.value)}>
              {key && <kbd>{keyLabel(key)}</kbd>} {option.label}
            </button>
          );
        })}
      </div>
    );
  }
  if (field.kind === "multiple_choice") {
    const chosen = (value as string[] | undefined) ?? [];
    return (
      <div role="group" aria-labelledby={`${id}-label`} className="choices">
        {optionsOf(field).map((option) => {
          const key = shortcuts.forField.get(`${field.key}:${option.value}`);
          const checked = chosen.includes(option.value);
          return (
            <button key={option.value} type="button" role="checkbox" aria-checked={checked} disabled={disabled}
              className={checked ? "choice selected" : "choice"} aria-keyshortcuts={key}
              onClick={() => onChange(field.key, checked ? chosen.filter((item) => item !== option.value)
                : [...chosen, option.value])}>
              {key && <kbd>{keyLabel(key)}</kbd>} {option.label}
            </button>
          );
        })}
      </div>
    );
  }
  if (field.kind === "number") {
    const range = [field.min, field.max].every((bound) => bound !== undefined) ? `${field.min}–${field.max}` : "";
    return (
      <span className="number">
        <input id={id} type="text" inputMode="decimal" value={(value as string | undefined) ?? ""} disabled={disabled}
          aria-describedby={`${id}-hint`} onChange={(event) => onChange(field.key, event.target.value)} />
        {field.unit && <span className="unit">{field.unit}</span>}
        {range && <span id={`${id}-hint`} className="muted"> {range}{field.unit ? ` ${field.unit}` : ""}</span>}
      </span>
    );
  }
  if (field.kind === "text") {
    return (
      <textarea id={id} rows={2} maxLength={field.max_length ?? 5000} value={(value as string | undefined) ?? ""}
        disabled={disabled} onChange={(event) => onChange(field.key, event.target.value)} />
    );
  }
  if (field.kind === "frame_selection") {
    const frames = (value as FramesValue | undefined) ?? {};
    return (
      <div className="frame-marks">
        {(field.labels ?? []).map((label) => {
          const key = shortcuts.forField.get(`${field.key}:${label}`);
          const marked = frames[label];
          return (
            <span key={label} className="frame-mark">
              <button type="button" disabled={disabled || !position} aria-keyshortcuts={key}
                onClick={() => position && onChange(field.key, { ...frames, [label]: position.frame, instance: position.instance } as FramesValue)}>
                {key && <kbd>{keyLabel(key)}</kbd>} Mark {label}
              </button>
              {Number.isInteger(marked) ? (
                <button type="button" className="link" onClick={() => frames.instance && onGoTo?.(frames.instance, marked)}>
                  {label}: frame {marked}
                </button>
              ) : <span className="muted">{label}: not marked</span>}
            </span>
          );
        })}
      </div>
    );
  }
  if (SPATIAL_KINDS.has(field.kind)) {
    const summary = shapeSummary(field, value, calibration);
    const active = activeField === field.key;
    const located = value && typeof value === "object" && !Array.isArray(value) ? (value as ShapeValue) : null;
    return (
      <div className="tool-field">
        <button type="button" aria-pressed={active} className={active ? "tool selected" : "tool"} disabled={disabled}
          aria-keyshortcuts={toolKey} onClick={() => onSelectField(active ? null : field.key)}>
          {toolKey && <kbd>{keyLabel(toolKey)}</kbd>} {TOOL_VERBS[field.kind]}
        </button>
        {summary ? (
          <>
            <button type="button" className="link" onClick={() => located?.instance && onGoTo?.(located.instance, located.frame)}>
              {summary}
            </button>
            <button type="button" className="link danger" disabled={disabled} onClick={() => onChange(field.key, null)}
              aria-label={`Clear ${field.label ?? field.key}`}>Clear</button>
          </>
        ) : <span className="muted">not drawn</span>}
      </div>
    );
  }
  return null;
}

export function SchemaForm(props: SchemaFormProps) {
  const { schema, draft, problems = {} } = props;
  return (
    <div className="schema-form">
      {visibleFields(schema, draft).map((field) => (
        <div key={field.key} className={problems[field.key] ? "form-field invalid" : "form-field"}
          data-field={field.key}>
          <label id={`field-${field.key}-label`} htmlFor={`field-${field.key}`}>
            {field.label ?? field.key}{field.required && <span aria-label="required"> *</span>}
          </label>
          {field.help && <p className="help">{field.help}</p>}
          <FieldControl {...props} field={field} />
          {problems[field.key] && <p className="problem" role="alert">{field.label ?? field.key}: {problems[field.key]}</p>}
        </div>
      ))}
    </div>
  );
}
