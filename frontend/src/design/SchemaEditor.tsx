// The label schema editor: fields edited one by one (or as JSON) beside a live preview of exactly
// what a worker will see (the labeling screen's own SchemaForm), with the answer it would send.
// Saving posts a new version; stages keep the version they were created with.
import { useCallback, useEffect, useMemo, useState } from "react";
import { api, ApiError } from "../api";
import { useApi } from "../common/hooks";
import { serializeAnswer, type Draft, type DraftValue } from "../labeling/answers";
import { SchemaForm } from "../labeling/SchemaForm";
import { assignShortcuts, keyLabel } from "../labeling/shortcuts";
import type { FieldKind, Schema } from "../types";
import type { SchemaTemplate, SchemaVersion } from "./apiTypes";
import { ErrorNotice, formatDate, Loading, messageOf, StatusNotice, useDesign } from "./parts";
import {
  changeKind, checkFields, conditionValues, CONDITION_KINDS, FIELD_KINDS, fromSchema, KIND_LABELS, move, newField,
  OPTION_KINDS, serverProblems, toSchema, TOLERANCES, TOOL_KINDS, type EditorField, type EditorOption,
} from "./schemaModel";

const NEW = "";
const SLUG = /^[-a-zA-Z0-9_]+$/;
const PREVIEW_FRAMES = 30;

export default function SchemaEditor() {
  const { slug, stages } = useDesign();
  const base = `/api/projects/${slug}`;
  const schemas = useApi<SchemaVersion[]>(`${base}/schemas/`);
  const templates = useApi<SchemaTemplate[]>("/api/templates/");
  const [name, setName] = useState<string | null>(null);
  const [newName, setNewName] = useState("");
  const [fields, setFields] = useState<EditorField[]>([]);
  const [baseline, setBaseline] = useState<string>("");
  const [loadedVersion, setLoadedVersion] = useState<SchemaVersion | null>(null);
  const [mode, setMode] = useState<"fields" | "json">("fields");
  const [jsonText, setJsonText] = useState("");
  const [jsonError, setJsonError] = useState<string | null>(null);
  const [serverErrors, setServerErrors] = useState<Record<string, string[]>>({});
  const [saving, setSaving] = useState(false);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const schema = useMemo(() => toSchema(fields), [fields]);
  const json = useMemo(() => JSON.stringify(schema), [schema]);
  const dirty = json !== baseline;
  const { errors, warnings } = useMemo(() => checkFields(fields), [fields]);
  const hasErrors = Object.keys(errors).length > 0;

  const load = useCallback((definition: Schema, version: SchemaVersion | null) => {
    const rows = fromSchema(definition);
    setFields(rows);
    setBaseline(JSON.stringify(toSchema(rows)));
    setLoadedVersion(version);
    setServerErrors({});
    setJsonError(null);
    setMode("fields");
  }, []);

  // Open the first schema once the list arrives (or a new one when there is none).
  useEffect(() => {
    if (name !== null || !schemas.data) return;
    const first = schemas.data[0];
    setName(first ? first.name : NEW);
    if (first) load(first.definition, first);
  }, [schemas.data, name, load]);

  const confirmDiscard = () => !dirty || window.confirm("Discard the changes you have not saved?");

  const pick = (next: string) => {
    if (!confirmDiscard()) return;
    setStatus(null);
    setName(next);
    const latest = schemas.data?.find((candidate) => candidate.name === next);
    if (latest) load(latest.definition, latest);
    else load({ fields: [] }, null);
  };

  const startFrom = (templateKey: string) => {
    if (!confirmDiscard()) return;
    const template = templates.data?.find((candidate) => candidate.key === templateKey);
    if (template) {
      load(template.schema, null);
      if (!newName) setNewName(template.key);
    } else {
      load({ fields: [] }, null);
      setFields([newField("single_choice", [])]);
    }
  };

  const targetName = name === NEW ? newName.trim() : name ?? "";
  const nameProblem = name === NEW && !SLUG.test(targetName) ? "Name the schema: letters, digits, - and _." : null;

  const save = async () => {
    if (hasErrors || nameProblem) {
      setError(nameProblem ?? "Fix the fields marked first.");
      document.querySelector<HTMLElement>(".field-card.invalid input, .field-card.invalid select")?.focus();
      return;
    }
    setSaving(true);
    setError(null);
    setServerErrors({});
    try {
      const saved = await api<SchemaVersion>(`${base}/schemas/`, { body: { name: targetName, definition: schema } });
      setStatus(`Saved ${saved.name} version ${saved.version}.`);
      setName(saved.name);
      setNewName("");
      setBaseline(JSON.stringify(toSchema(fields)));
      setLoadedVersion(saved);
      schemas.reload();
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 400) {
        const problems = serverProblems(failure.body, fields);
        setServerErrors(problems);
        setError(`The server refused the schema${problems[""] ? `: ${problems[""].join(" ")}` : "; see the fields marked."}`);
      } else {
        setError(messageOf(failure));
      }
    } finally {
      setSaving(false);
    }
  };

  const switchMode = (next: "fields" | "json") => {
    if (next === mode) return;
    if (next === "json") {
      setJsonText(JSON.stringify(schema, null, 2));
      setJsonError(null);
      setMode("json");
      return;
    }
    if (applyJson()) setMode("fields");
  };

  const applyJson = (): boolean => {
    try {
      const parsed = JSON.parse(jsonText) as Schema;
      if (!parsed || typeof parsed !== "object" || !Array.isArray(parsed.fields)) {
        throw new Error('A schema is an object with a "fields" list.');
      }
      if (parsed.fields.some((field) => !field || typeof field !== "object" || typeof field.kind !== "string")) {
        throw new Error('Every field is an object with a "key" and a "kind".');
      }
      setFields(fromSchema(parsed));
      setJsonError(null);
      setServerErrors({});
      return true;
    } catch (failure) {
      setJsonError(`The JSON cannot be used: ${(failure as Error).message}`);
      return false;
    }
  };

  const update = (uid: string, change: (row: EditorField) => EditorField) =>
    setFields((rows) => rows.map((row) => (row.uid === uid ? change(row) : row)));

  if (schemas.error) return <ErrorNotice error={schemas.error} />;
  if (!schemas.data || name === null) return <Loading what="the schemas" />;

  const usedBy = (stages.data ?? []).filter((stage) => stage.schema && stage.schema === (name === NEW ? null : name));

  return (
    <div className="schema-editor">
      <div className="form-row">
        <label>
          Schema
          <select value={name} onChange={(event) => pick(event.target.value)}>
            {schemas.data.map((candidate) => (
              <option key={candidate.name} value={candidate.name}>{candidate.name} (version {candidate.version})</option>
            ))}
            <option value={NEW}>New schema…</option>
          </select>
        </label>
        {name === NEW && (
          <>
            <label>
              Name of the new schema
              <input value={newName} onChange={(event) => setNewName(event.target.value)} placeholder="e.g. echo-views"
                aria-invalid={Boolean(nameProblem && newName)} pattern="[a-zA-Z0-9_\-]+" required />
            </label>
            <label>
              Start from
              <select value="" onChange={(event) => event.target.value && startFrom(event.target.value)}>
                <option value="">Choose a template…</option>
                {templates.data?.map((template) => <option key={template.key} value={template.key}>{template.title}</option>)}
                <option value="blank">A blank schema</option>
              </select>
            </label>
          </>
        )}
        {name !== NEW && <VersionPicker key={`${name}:${loadedVersion?.version}`} base={base} name={name} current={loadedVersion} onLoad={(version) => {
          if (confirmDiscard()) load(version.definition, version);
        }} />}
      </div>
      {templates.error && <ErrorNotice error={`Templates: ${templates.error}`} />}
      {name === NEW && templates.data && (
        <p className="muted">{templates.data.map((template) => `${template.title}: ${template.description}`).join(" · ")}</p>
      )}
      {usedBy.length > 0 && (
        <p className="notice">
          Used by {usedBy.map((stage) => `stage ${stage.position} (${stage.name}) at version ${stage.schema_version}`).join(", ")}.
          A stage keeps the version it was created with, since its answers and gold name that version; a version saved
          here applies to stages added from now on.
        </p>
      )}

      <div className="schema-layout">
        <section aria-labelledby="schema-fields-title" className="schema-fields">
          <div className="section-head">
            <h2 id="schema-fields-title">Fields</h2>
            <div className="actions" role="group" aria-label="Editor view">
              <button type="button" aria-pressed={mode === "fields"} onClick={() => switchMode("fields")}>Form</button>
              <button type="button" aria-pressed={mode === "json"} onClick={() => switchMode("json")}>JSON</button>
            </div>
          </div>
          {errors[""] && <ErrorNotice error={errors[""].join(" ")} />}
          {mode === "fields" ? (
            <>
              {fields.map((row, index) => (
                <FieldEditor key={row.uid} row={row} index={index} count={fields.length} earlier={fields.slice(0, index)}
                  problems={[...(errors[row.uid] ?? []), ...(serverErrors[row.uid] ?? [])]} warnings={warnings[row.uid] ?? []}
                  onChange={(change) => update(row.uid, change)}
                  onMove={(delta) => setFields((rows) => move(rows, index, delta))}
                  onRemove={() => setFields((rows) => rows.filter((candidate) => candidate.uid !== row.uid)
                    .map((candidate) => (candidate.showIf?.field === row.key ? { ...candidate, showIf: null } : candidate)))} />
              ))}
              <AddField taken={fields.map((row) => row.key)} onAdd={(row) => setFields((rows) => [...rows, row])} />
            </>
          ) : (
            <div className="json-view">
              <label htmlFor="schema-json">Schema as JSON</label>
              <textarea id="schema-json" rows={24} spellCheck={false} value={jsonText}
                onChange={(event) => setJsonText(event.target.value)} aria-describedby="schema-json-help" />
              <p id="schema-json-help" className="muted">
                Field kinds: {FIELD_KINDS.map((kind) => kind.kind).join(", ")}. Applying replaces the form's fields.
              </p>
              <ErrorNotice error={jsonError} />
              <button type="button" onClick={applyJson}>Apply JSON</button>
            </div>
          )}
          <div className="save-bar">
            <button type="button" className="primary" onClick={save} disabled={saving || (!dirty && name !== NEW)}>
              {saving ? "Saving…" : name === NEW ? "Save version 1" : `Save as version ${(schemas.data.find((candidate) => candidate.name === name)?.version ?? 0) + 1}`}
            </button>
            <span className="muted">{name === NEW ? "A new schema, not saved yet" : dirty ? "Unsaved changes" : "No changes"}</span>
            <ErrorNotice error={error} />
            <StatusNotice message={status} />
          </div>
        </section>
        <Preview schema={schema} valid={!hasErrors} />
      </div>
    </div>
  );
}

function VersionPicker({ base, name, current, onLoad }: {
  base: string; name: string; current: SchemaVersion | null; onLoad: (version: SchemaVersion) => void;
}) {
  const versions = useApi<SchemaVersion[]>(`${base}/schemas/${name}/versions/`);
  const latest = versions.data?.[versions.data.length - 1]?.version;
  return (
    <>
      <label>
        Version
        <select value={current?.version ?? ""} onChange={(event) => {
          const version = versions.data?.find((candidate) => candidate.version === Number(event.target.value));
          if (version) onLoad(version);
        }} disabled={!versions.data}>
          {!current && <option value="">—</option>}
          {versions.data?.map((version) => (
            <option key={version.version} value={version.version}>
              {version.version}{version.version === latest ? " (newest)" : ""} · {version.created_by ?? "?"} · {formatDate(version.created_at)}
            </option>
          ))}
        </select>
      </label>
      {versions.error && <ErrorNotice error={versions.error} />}
      {current && latest !== undefined && current.version !== latest && (
        <span className="muted">Editing from version {current.version}; saving makes it version {latest + 1}.</span>
      )}
    </>
  );
}

function AddField({ taken, onAdd }: { taken: string[]; onAdd: (row: EditorField) => void }) {
  const [kind, setKind] = useState<FieldKind>("single_choice");
  return (
    <div className="form-row add-field">
      <label>
        Kind of the new field
        <select value={kind} onChange={(event) => setKind(event.target.value as FieldKind)}>
          {FIELD_KINDS.map((option) => <option key={option.kind} value={option.kind}>{option.label}</option>)}
        </select>
      </label>
      <button type="button" onClick={() => onAdd(newField(kind, taken))}>Add field</button>
    </div>
  );
}

interface FieldEditorProps {
  row: EditorField;
  index: number;
  count: number;
  earlier: EditorField[];
  problems: string[];
  warnings: string[];
  onChange: (change: (row: EditorField) => EditorField) => void;
  onMove: (delta: number) => void;
  onRemove: () => void;
}

function FieldEditor({ row, index, count, earlier, problems, warnings, onChange, onMove, onRemove }: FieldEditorProps) {
  const id = (part: string) => `edit-${row.uid}-${part}`;
  const name = row.key || `field ${index + 1}`;
  const set = <K extends keyof EditorField>(key: K, value: EditorField[K]) => onChange((current) => ({ ...current, [key]: value }));
  const tolerance = TOLERANCES[row.kind];
  const conditionFields = earlier.filter((candidate) => CONDITION_KINDS.has(candidate.kind) && candidate.key.trim());
  const conditionSource = conditionFields.find((candidate) => candidate.key === row.showIf?.field);
  return (
    <details className={problems.length ? "card field-card invalid" : "card field-card"} open>
      <summary>
        <span className="field-title">{index + 1}. {row.label || name}</span>{" "}
        <span className="muted">{row.key} · {KIND_LABELS[row.kind] ?? row.kind}{row.required ? " · required" : ""}{row.showIf ? " · conditional" : ""}</span>
      </summary>
      <div className="actions field-actions">
        <button type="button" onClick={() => onMove(-1)} disabled={index === 0} aria-label={`Move ${name} up`}>↑ Up</button>
        <button type="button" onClick={() => onMove(1)} disabled={index === count - 1} aria-label={`Move ${name} down`}>↓ Down</button>
        <button type="button" className="danger" onClick={onRemove} aria-label={`Remove ${name}`}>Remove</button>
      </div>
      <div className="field-grid">
        <label htmlFor={id("key")}>Key</label>
        <input id={id("key")} value={row.key} onChange={(event) => set("key", event.target.value)} spellCheck={false}
          aria-describedby={id("key-help")} />
        <span id={id("key-help")} className="muted hint">the answer's JSON key</span>

        <label htmlFor={id("kind")}>Kind</label>
        <select id={id("kind")} value={row.kind} onChange={(event) => onChange((current) => changeKind(current, event.target.value as FieldKind))}>
          {!(row.kind in KIND_LABELS) && <option value={row.kind}>{row.kind} (unknown)</option>}
          {FIELD_KINDS.map((option) => <option key={option.kind} value={option.kind}>{option.label}</option>)}
        </select>
        <span />

        <label htmlFor={id("label")}>Label</label>
        <input id={id("label")} value={row.label} onChange={(event) => set("label", event.target.value)} />
        <span />

        <label htmlFor={id("help")}>Help text</label>
        <input id={id("help")} value={row.help} onChange={(event) => set("help", event.target.value)} />
        <span />

        <span className="grid-label">Answer</span>
        <label className="inline">
          <input type="checkbox" checked={row.required} onChange={(event) => set("required", event.target.checked)} /> Required
        </label>
        <span />

        {(row.kind === "number" || row.kind === "points") && (
          <>
            <label htmlFor={id("min")}>{row.kind === "points" ? "Fewest points" : "Minimum"}</label>
            <input id={id("min")} inputMode="decimal" value={row.min} onChange={(event) => set("min", event.target.value)} />
            <span />
            <label htmlFor={id("max")}>{row.kind === "points" ? "Most points" : "Maximum"}</label>
            <input id={id("max")} inputMode="decimal" value={row.max} onChange={(event) => set("max", event.target.value)} />
            <span />
          </>
        )}
        {row.kind === "number" && (
          <>
            <label htmlFor={id("unit")}>Unit</label>
            <input id={id("unit")} value={row.unit} onChange={(event) => set("unit", event.target.value)} placeholder="e.g. %, mm, ms" />
            <span />
            <label htmlFor={id("step")}>Step</label>
            <input id={id("step")} inputMode="decimal" value={row.step} onChange={(event) => set("step", event.target.value)} />
            <span />
          </>
        )}
        {row.kind === "text" && (
          <>
            <label htmlFor={id("max-length")}>Maximum length</label>
            <input id={id("max-length")} inputMode="numeric" value={row.maxLength}
              onChange={(event) => set("maxLength", event.target.value)} placeholder="5000" />
            <span />
          </>
        )}
        {TOOL_KINDS.has(row.kind) && (
          <>
            <label htmlFor={id("shortcut")}>Tool shortcut</label>
            <input id={id("shortcut")} maxLength={1} className="key-input" value={row.shortcut}
              onChange={(event) => set("shortcut", event.target.value)} />
            <span className="muted hint">one key; a free key is chosen when empty</span>
          </>
        )}
        {tolerance && (
          <>
            <label htmlFor={id("tolerance")}>{tolerance.label}</label>
            <input id={id("tolerance")} inputMode="decimal" value={row.tolerance} onChange={(event) => set("tolerance", event.target.value)} />
            <span className="muted hint">{tolerance.hint}</span>
          </>
        )}
      </div>

      {OPTION_KINDS.has(row.kind) && (
        <OptionsEditor field={name} options={row.options} idPrefix={id("option")} onChange={(options) => set("options", options)} />
      )}
      {row.kind === "frame_selection" && (
        <FrameLabelsEditor field={name} labels={row.labels} idPrefix={id("frame")} onChange={(labels) => set("labels", labels)} />
      )}

      <fieldset className="show-if">
        <legend>
          <label className="inline">
            <input type="checkbox" checked={row.showIf !== null} disabled={!row.showIf && conditionFields.length === 0}
              onChange={(event) => set("showIf", event.target.checked
                ? { field: conditionFields[0]?.key ?? "", in: [] } : null)} />
            {" "}Show only if an earlier answer is…
          </label>
        </legend>
        {!row.showIf && conditionFields.length === 0 && (
          <p className="muted">A condition tests a choice or yes/no field above this one.</p>
        )}
        {row.showIf && (
          <div className="form-row">
            <label>
              Field
              <select value={row.showIf.field} onChange={(event) => set("showIf", { field: event.target.value, in: [] })}>
                {!conditionSource && <option value={row.showIf.field}>{row.showIf.field || "choose…"}</option>}
                {conditionFields.map((candidate) => (
                  <option key={candidate.uid} value={candidate.key}>{candidate.label || candidate.key}</option>
                ))}
              </select>
            </label>
            <div role="group" aria-label={`Answers of ${row.showIf.field} that show ${name}`} className="checks">
              {(conditionSource ? conditionValues(conditionSource) : row.showIf.in.map((value) => ({ value, label: value })))
                .map((option) => (
                  <label key={option.value} className="inline">
                    <input type="checkbox" checked={row.showIf!.in.includes(option.value)} onChange={(event) => set("showIf", {
                      field: row.showIf!.field,
                      in: event.target.checked ? [...row.showIf!.in, option.value] : row.showIf!.in.filter((value) => value !== option.value),
                    })} /> {option.label}
                  </label>
                ))}
            </div>
          </div>
        )}
      </fieldset>

      {Object.keys(row.extra).length > 0 && (
        <p className="muted">Other settings kept as they are: <code>{JSON.stringify(row.extra)}</code> (edit them in the JSON view).</p>
      )}
      {problems.length > 0 && (
        <ul className="problems" role="alert">{problems.map((problem) => <li key={problem} className="problem">{problem}</li>)}</ul>
      )}
      {warnings.length > 0 && <ul className="warnings">{warnings.map((warning) => <li key={warning}>{warning}</li>)}</ul>}
    </details>
  );
}

function OptionsEditor({ field, options, idPrefix, onChange }: {
  field: string; options: EditorOption[]; idPrefix: string; onChange: (options: EditorOption[]) => void;
}) {
  const set = (index: number, change: Partial<EditorOption>) =>
    onChange(options.map((option, position) => (position === index ? { ...option, ...change } : option)));
  return (
    <table className="options-table">
      <caption>Options of {field}</caption>
      <thead>
        <tr><th scope="col">Value (stored)</th><th scope="col">Label (shown)</th><th scope="col">Key</th><th scope="col"><span className="sr-only">Order and removal</span></th></tr>
      </thead>
      <tbody>
        {options.map((option, index) => (
          <tr key={index}>
            <td><input aria-label={`Value of option ${index + 1} of ${field}`} id={`${idPrefix}-${index}-value`} value={option.value}
              onChange={(event) => set(index, { value: event.target.value })} spellCheck={false} /></td>
            <td><input aria-label={`Label of option ${index + 1} of ${field}`} value={option.label}
              onChange={(event) => set(index, { label: event.target.value })} /></td>
            <td><input aria-label={`Shortcut key of option ${index + 1} of ${field}`} className="key-input" maxLength={1}
              value={option.shortcut} onChange={(event) => set(index, { shortcut: event.target.value })} /></td>
            <td className="row-actions">
              <button type="button" onClick={() => onChange(move(options, index, -1))} disabled={index === 0}
                aria-label={`Move option ${option.value || index + 1} up`}>↑</button>
              <button type="button" onClick={() => onChange(move(options, index, 1))} disabled={index === options.length - 1}
                aria-label={`Move option ${option.value || index + 1} down`}>↓</button>
              <button type="button" className="danger" onClick={() => onChange(options.filter((_, position) => position !== index))}
                aria-label={`Remove option ${option.value || index + 1}`}>✕</button>
            </td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr><td colSpan={4}>
          <button type="button" onClick={() => onChange([...options, { value: `option_${options.length + 1}`,
            label: `Option ${options.length + 1}`, shortcut: "" }])}>Add option</button>
        </td></tr>
      </tfoot>
    </table>
  );
}

function FrameLabelsEditor({ field, labels, idPrefix, onChange }: {
  field: string; labels: string[]; idPrefix: string; onChange: (labels: string[]) => void;
}) {
  return (
    <fieldset className="frame-labels">
      <legend>Frames to mark in {field}</legend>
      {labels.map((label, index) => (
        <span key={index} className="frame-label">
          <input id={`${idPrefix}-${index}`} aria-label={`Frame label ${index + 1} of ${field}`} value={label} size={8}
            onChange={(event) => onChange(labels.map((candidate, position) => (position === index ? event.target.value : candidate)))} />
          <button type="button" className="danger" aria-label={`Remove frame label ${label || index + 1}`}
            onClick={() => onChange(labels.filter((_, position) => position !== index))}>✕</button>
        </span>
      ))}
      <button type="button" onClick={() => onChange([...labels, ""])}>Add frame label</button>
    </fieldset>
  );
}

function Preview({ schema, valid }: { schema: Schema; valid: boolean }) {
  const [draft, setDraft] = useState<Draft>({});
  const [activeField, setActiveField] = useState<string | null>(null);
  const [frame, setFrame] = useState(1);
  const [checked, setChecked] = useState(false);
  // What SchemaForm can render while the admin is mid-edit: one field per key.
  const usable = useMemo(() => ({ fields: schema.fields.filter((field, index) => field.key && field.kind
    && schema.fields.findIndex((other) => other.key === field.key) === index) }), [schema]);
  const shortcuts = useMemo(() => assignShortcuts(usable), [usable]);
  const result = useMemo(() => serializeAnswer(usable, draft), [usable, draft]);
  const keys = [...shortcuts.byKey.entries()];
  return (
    <aside className="card schema-preview" aria-labelledby="schema-preview-title">
      <div className="section-head">
        <h2 id="schema-preview-title">Live preview: the worker's panel</h2>
        <div className="actions">
          <button type="button" onClick={() => setChecked(true)}>Check the answer</button>
          <button type="button" onClick={() => { setDraft({}); setActiveField(null); setChecked(false); }}>Clear answers</button>
        </div>
      </div>
      {!valid && <p className="notice warn">The schema has problems (marked on the left); the preview shows what can be shown.</p>}
      <div className="form-row">
        <label>
          Frame shown (for frame marks)
          <input type="number" min={1} max={PREVIEW_FRAMES} value={frame}
            onChange={(event) => setFrame(Math.min(PREVIEW_FRAMES, Math.max(1, Number(event.target.value) || 1)))} />
        </label>
        <span className="muted">Drawing tools draw on the image in the labeling screen.</span>
      </div>
      <SchemaForm schema={usable} draft={draft} shortcuts={shortcuts} activeField={activeField}
        onSelectField={setActiveField} position={{ instance: "preview", frame, frames: PREVIEW_FRAMES }}
        onChange={(key: string, value: DraftValue) => setDraft((previous) => ({ ...previous, [key]: value }))}
        problems={checked ? result.problems : {}} />
      {checked && (Object.keys(result.problems).length === 0
        ? <p className="notice good" role="status">The server would accept this answer.</p>
        : <p className="notice warn" role="status">{Object.keys(result.problems).length} field(s) would be refused, as marked.</p>)}
      <details className="preview-output">
        <summary>Answer the worker would send</summary>
        <pre>{JSON.stringify(result.value, null, 2)}</pre>
      </details>
      <details>
        <summary>Keyboard shortcuts ({keys.length})</summary>
        <ul className="shortcut-list">
          {keys.map(([key, target]) => (
            <li key={key}><kbd>{keyLabel(key)}</kbd> {target.field}{target.option ? `: ${target.option}` : ""}
              {target.frameLabel ? `: mark ${target.frameLabel}` : ""}{!target.option && !target.frameLabel ? " tool" : ""}</li>
          ))}
        </ul>
      </details>
    </aside>
  );
}
