// Gold and qualification items of a label stage: pick a series, look at it in the viewer, give
// the expert answer with the worker's own form and tools, and the explanation workers are shown
// after a qualification answer.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, ApiError } from "../api";
import { useApi, useShortcuts } from "../common/hooks";
import { describeValue, serializeAnswer, type Draft, type DraftValue } from "../labeling/answers";
import { SchemaForm } from "../labeling/SchemaForm";
import { applyDrawing, brushField, DRAWING_KIND, lockWhileDrawing, maskOf, shapesOf } from "../labeling/shapes";
import { assignShortcuts, shortcutAction } from "../labeling/shortcuts";
import type { InstanceRef, Schema, Stage } from "../types";
import { Viewer, type ViewerHandle, type ViewerPosition, type ViewerTool } from "../viewer/Viewer";
import type { KnownAnswer } from "./apiTypes";
import { describeSeries, instancesFromQido, shortUid, type SeriesRow } from "./dicom";
import {
  ErrorNotice, formatDate, Loading, messageOf, Section, stageLabel, StatusNotice, useDesign, useSeries, useStageSchema,
} from "./parts";

export default function GoldItems() {
  const { stages } = useDesign();
  const labelStages = (stages.data ?? []).filter((stage) => stage.kind === "label");
  const [stageId, setStageId] = useState<number | null>(null);
  const stage = labelStages.find((candidate) => candidate.id === stageId) ?? labelStages[0] ?? null;

  if (stages.error) return <ErrorNotice error={stages.error} />;
  if (!stages.data) return <Loading what="the pipeline" />;
  if (!stage) return <p className="notice warn">Gold and qualification items belong to label stages: add one in the pipeline tab.</p>;
  return (
    <div className="gold">
      <div className="form-row">
        <label>
          Label stage
          <select value={stage.id} onChange={(event) => setStageId(Number(event.target.value))}>
            {labelStages.map((candidate) => <option key={candidate.id} value={candidate.id}>{stageLabel(candidate)}</option>)}
          </select>
        </label>
        <span className="muted">
          {stage.requires_qualification ? "Workers pass its qualification set first. " : "No qualification set is required. "}
          Gold rate {stage.gold_rate_min}–{stage.gold_rate_max}.
        </span>
      </div>
      <StageGold key={stage.id} stage={stage} />
    </div>
  );
}

function StageGold({ stage }: { stage: Stage }) {
  const { slug } = useDesign();
  const base = `/api/projects/${slug}/stages/${stage.id}`;
  const gold = useApi<KnownAnswer[]>(`${base}/gold/`);
  const { schema, error } = useStageSchema(stage);
  const counts = { gold: 0, qualification: 0 };
  for (const item of gold.data ?? []) counts[item.purpose] += 1;

  return (
    <>
      <ErrorNotice error={error} />
      {gold.data && stage.requires_qualification && counts.qualification === 0 && (
        <p className="notice warn">This stage asks workers to qualify first but has no qualification item yet.</p>
      )}
      {gold.data && stage.gold_rate_max > 0 && counts.gold === 0 && (
        <p className="notice warn">This stage mixes gold into the work but has no gold item yet.</p>
      )}
      {schema && <GoldForm stage={stage} schema={schema} base={base} taken={gold.data ?? []} onAdded={gold.reload} />}
      <Section title={`Gold and qualification items of ${stageLabel(stage)}`} id="gold-list">
        <ErrorNotice error={gold.error} />
        {!gold.data && !gold.error && <Loading what="the gold items" />}
        {gold.data && gold.data.length === 0 && <p className="muted">None yet.</p>}
        {gold.data && gold.data.length > 0 && (
          <>
            <p className="muted">{counts.gold} gold, {counts.qualification} qualification. Expert corrections in review
              become gold too (source “review”).</p>
            <table>
              <thead>
                <tr><th scope="col">Series</th><th scope="col">Purpose</th><th scope="col">Expert answer</th>
                  <th scope="col">Explanation</th><th scope="col">Source</th><th scope="col">Added</th></tr>
              </thead>
              <tbody>
                {gold.data.map((item) => (
                  <tr key={item.task}>
                    <td><code title={item.series_uid ?? ""}>{item.series_uid ? shortUid(item.series_uid) : "—"}</code></td>
                    <td>{item.purpose}</td>
                    <td>{schema ? <AnswerSummary schema={schema} value={item.value} /> : <code>{JSON.stringify(item.value)}</code>}</td>
                    <td>{item.explanation || <span className="muted">—</span>}</td>
                    <td>{item.source} <span className="muted">(v{item.schema_version})</span></td>
                    <td>{item.created_by ?? "—"}<br /><span className="muted">{formatDate(item.created_at)}</span></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </Section>
    </>
  );
}

function AnswerSummary({ schema, value }: { schema: Schema; value: Record<string, unknown> }) {
  const shown = schema.fields.filter((field) => value[field.key] !== undefined && value[field.key] !== null);
  if (!shown.length) return <span className="muted">empty</span>;
  return (
    <dl className="answer-summary">
      {shown.map((field) => (
        <div key={field.key}><dt>{field.label ?? field.key}</dt><dd>{describeValue(field, value[field.key])}</dd></div>
      ))}
    </dl>
  );
}

function GoldForm({ stage, schema, base, taken, onAdded }: {
  stage: Stage; schema: Schema; base: string; taken: KnownAnswer[]; onAdded: () => void;
}) {
  const { slug } = useDesign();
  const { series, error: seriesError, loading } = useSeries(slug);
  const [seriesUid, setSeriesUid] = useState("");
  const [purpose, setPurpose] = useState<"gold" | "qualification">(stage.requires_qualification ? "qualification" : "gold");
  const [explanation, setExplanation] = useState("");
  const [draft, setDraft] = useState<Draft>({});
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [instances, setInstances] = useState<InstanceRef[]>([]);
  const [imagesError, setImagesError] = useState<string | null>(null);
  const [activeField, setActiveField] = useState<string | null>(null);
  const [navigation, setNavigation] = useState<ViewerTool>("WindowLevel");
  const [erasing, setErasing] = useState(false);
  const [brushRadius, setBrushRadius] = useState(4);
  const [position, setPosition] = useState<ViewerPosition | null>(null);
  const viewer = useRef<ViewerHandle>(null);

  const takenUids = useMemo(() => new Set(taken.map((item) => item.series_uid)), [taken]);
  const chosen: SeriesRow | undefined = series.find((row) => row.series_uid === seriesUid);
  const shortcuts = useMemo(() => assignShortcuts(schema), [schema]);
  const brush = useMemo(() => brushField(schema), [schema]);
  const defaultInstance = instances[0]?.sop_instance_uid ?? "";
  const shapes = useMemo(() => lockWhileDrawing(shapesOf(schema, draft as Record<string, unknown>,
    { prefix: "draft", locked: false, defaultInstance }), activeField), [schema, draft, defaultInstance, activeField]);
  const active = schema.fields.find((field) => field.key === activeField) ?? null;
  const tool: ViewerTool = !active ? navigation
    : active.kind === "brush_mask" ? (erasing ? "eraser" : "brush") : DRAWING_KIND[active.kind] ?? navigation;

  // The chosen series' instances, from the platform's QIDO-RS.
  useEffect(() => {
    setInstances([]);
    setImagesError(null);
    setDraft({});
    setProblems({});
    setActiveField(null);
    if (!chosen) return;
    const controller = new AbortController();
    api<unknown>(`/dicomweb/${slug}/studies/${chosen.study_uid}/series/${chosen.series_uid}/instances?limit=1000`,
      { signal: controller.signal }).then(
      (body) => {
        const refs = instancesFromQido(body, window.location.origin, slug);
        setInstances(refs);
        if (!refs.length) setImagesError("This series has no image that can be shown (quarantined or missing).");
      },
      (failure) => !controller.signal.aborted && setImagesError(messageOf(failure)));
    return () => controller.abort();
  }, [chosen, slug]);

  const change = useCallback((key: string, value: DraftValue) => {
    setDraft((previous) => ({ ...previous, [key]: value }));
    setError(null);
    setProblems((previous) => {
      if (!previous[key]) return previous;
      const rest = { ...previous };
      delete rest[key];
      return rest;
    });
  }, []);

  // The worker's keys work here too while an image is shown (not while typing in a box).
  useShortcuts((event) => {
    if (event.ctrlKey || event.metaKey) return;
    const action = shortcutAction(schema, shortcuts, draft, event.key, position);
    if (!action) return;
    event.preventDefault();
    if (action.kind === "set") change(action.field, action.value);
    else setActiveField((current) => (current === action.field ? null : action.field));
  }, instances.length > 0);

  const submit = async () => {
    setError(null);
    setStatus(null);
    if (!seriesUid) {
      setError("Choose the series first.");
      return;
    }
    const { value, problems: found } = serializeAnswer(schema, draft);
    setProblems(found);
    if (Object.keys(found).length) {
      setError("The answer is not complete: see the fields marked.");
      return;
    }
    setSaving(true);
    try {
      await api(`${base}/gold/`, { body: { series_uid: seriesUid, value, explanation, purpose } });
      setStatus(`Saved ${shortUid(seriesUid)} as a ${purpose} item.`);
      setSeriesUid("");
      setExplanation("");
      onAdded();
    } catch (failure) {
      const body = failure instanceof ApiError ? (failure.body as Record<string, unknown> | null) : null;
      const fieldProblems = body && typeof body.value === "object" && body.value ? body.value as Record<string, unknown> : null;
      if (fieldProblems) {
        setProblems(Object.fromEntries(Object.entries(fieldProblems).map(([key, messages]) => [key, [messages].flat().join(" ")])));
        setError("The server refused the answer: see the fields marked.");
      } else {
        setError(messageOf(failure));
      }
    } finally {
      setSaving(false);
    }
  };

  return (
    <Section title="Add a gold or qualification item" id="gold-form">
      {/* Not a <form>: Enter in the answer's number boxes must not save the item. */}
      <div>
        <div className="form-row">
          <label>
            Series
            <select value={seriesUid} onChange={(event) => setSeriesUid(event.target.value)} disabled={loading}>
              <option value="">{loading ? "loading…" : series.length ? "choose a series…" : "no series imported yet"}</option>
              {series.map((row) => (
                <option key={row.series_uid} value={row.series_uid} disabled={takenUids.has(row.series_uid)}>
                  {describeSeries(row)}{takenUids.has(row.series_uid) ? " (already a known answer)" : ""}
                </option>
              ))}
            </select>
          </label>
          <fieldset className="inline-choice">
            <legend>Purpose</legend>
            <label className="inline"><input type="radio" name="gold-purpose" checked={purpose === "gold"} onChange={() => setPurpose("gold")} /> Gold (mixed into the work, unseen)</label>
            <label className="inline"><input type="radio" name="gold-purpose" checked={purpose === "qualification"} onChange={() => setPurpose("qualification")} /> Qualification (before the work, with feedback)</label>
          </fieldset>
        </div>
        <p className="muted">A gold or qualification item is a series of its own: one already queued as a normal item of
          this stage cannot become one, so keep some series apart for it.</p>
        <ErrorNotice error={seriesError} />
        {chosen && (
          <div className="gold-workspace">
            <div className="gold-image">
              <div className="toolbar" role="toolbar" aria-label="Image tools">
                {(["WindowLevel", "Pan", "Zoom"] as const).map((name) => (
                  <button key={name} type="button" aria-pressed={!active && navigation === name}
                    onClick={() => { setActiveField(null); setNavigation(name); }}>
                    {name === "WindowLevel" ? "Window/level" : name}
                  </button>
                ))}
                {active?.kind === "brush_mask" && (
                  <>
                    <button type="button" aria-pressed={erasing} onClick={() => setErasing(!erasing)}>Eraser</button>
                    <label className="inline">Brush radius (mm)
                      <input type="number" min={1} max={30} value={brushRadius} onChange={(event) => setBrushRadius(Number(event.target.value) || 1)} />
                    </label>
                  </>
                )}
                <span className="spacer" />
                {active && <span className="muted">Drawing: {active.label ?? active.key}</span>}
              </div>
              <ErrorNotice error={imagesError} />
              <div className="gold-viewer">
                {instances.length > 0 && (
                  <Viewer ref={viewer} instances={instances} tool={tool} shapes={shapes} label="Image of the gold item"
                    brushRadiusMm={brushRadius} maskEnabled={Boolean(brush)} mask={maskOf(draft, brush)}
                    onDrawn={(shape) => {
                      const next = applyDrawing(schema, draft, activeField, shape);
                      if (next) {
                        setDraft(next);
                        setError(null);
                      }
                    }}
                    onMaskPainted={(mask) => brush && change(brush.key, mask ? { ...mask } : null)}
                    onPosition={setPosition} />
                )}
              </div>
            </div>
            <div className="gold-answer">
              <h3>Expert answer</h3>
              <SchemaForm schema={schema} draft={draft} onChange={change} shortcuts={shortcuts} activeField={activeField}
                onSelectField={setActiveField} problems={problems}
                position={position ? { instance: position.instance, frame: position.frame, frames: position.frames } : null}
                onGoTo={(instance, frame) => viewer.current?.goTo(instance, frame)}
                calibration={position?.calibration ?? null} />
              <label htmlFor="gold-explanation">Explanation shown to workers</label>
              <textarea id="gold-explanation" rows={3} maxLength={5000} value={explanation}
                onChange={(event) => setExplanation(event.target.value)}
                placeholder="e.g. The anterior leaflet domes in diastole: rheumatic." />
            </div>
          </div>
        )}
        <div className="actions">
          <button type="button" className="primary" disabled={saving || !chosen} onClick={() => void submit()}>
            {saving ? "Saving…" : `Save as ${purpose} item`}
          </button>
        </div>
        <ErrorNotice error={error} />
        <StatusNotice message={status} />
      </div>
    </Section>
  );
}
