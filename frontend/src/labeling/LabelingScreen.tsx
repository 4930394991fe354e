// The crowd worker's screen: instructions, the viewer, the schema's tools and controls, undo/redo,
// keyboard shortcuts for everything, skip with a reason, a lease timer, and "submit and next" with the
// next task's images already loading. Qualification and gold answers come back with feedback. In
// stages that show pre-labels the draft starts from the model's answer, which the worker checks.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useParams } from "react-router";
import { api, ApiError } from "../api";
import { useApi, useInterval, useShortcuts } from "../common/hooks";
import { Markdown } from "../common/Markdown";
import type { AnswerResponse, Schema, TaskPayload } from "../types";
import { Viewer, type ViewerHandle, type ViewerPosition, type ViewerTool } from "../viewer/Viewer";
import { warmTask } from "../viewer/warm";
import { answerBody, describeValue, serializeAnswer, SKIP_REASONS, startDraft, type Draft, type DraftValue } from "./answers";
import type { Calibration } from "./geometry";
import { SchemaForm } from "./SchemaForm";
import { applyDrawing, brushField, DRAWING_KIND, lockWhileDrawing, maskOf, shapesOf } from "./shapes";
import { assignShortcuts, keyLabel, shortcutAction } from "./shortcuts";
import { useHistory } from "./useHistory";

interface Standing {
  requires_qualification: boolean;
  qualification: string;
  qualification_items: number;
  qualification_answered: number;
  qualification_correct: number;
  reliability: number | null;
  blocked_reason: string;
  answers: number;
  answers_today: number;
  recent: { at: string; skipped: string; known_answer: string | null; correct: boolean | null }[];
}

interface Settings { instructions: string }
interface ExampleImage { id: number; caption: string; url: string }

type Phase =
  | { kind: "loading" }
  | { kind: "working" }
  | { kind: "feedback"; response: AnswerResponse }
  | { kind: "done"; message: string }
  | { kind: "blocked"; message: string }
  | { kind: "expired" }
  | { kind: "error"; message: string };

export function useLeaseCountdown(expiresAt: string | null | undefined): number | null {
  const [now, setNow] = useState(() => Date.now());
  useInterval(() => setNow(Date.now()), 1000, Boolean(expiresAt));
  return expiresAt ? Math.max(0, Math.round((Date.parse(expiresAt) - now) / 1000)) : null;
}

export function formatCountdown(seconds: number): string {
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = String(seconds % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

export function Instructions({ slug, collapsed, onToggle }: { slug: string; collapsed: boolean; onToggle: () => void }) {
  const settings = useApi<Settings>(`/api/projects/${slug}/settings/`);
  const images = useApi<ExampleImage[]>(`/api/projects/${slug}/instructions/images/`);
  return (
    <aside className={collapsed ? "side instructions collapsed" : "side instructions"} aria-label="Instructions">
      <button type="button" className="link" onClick={onToggle} aria-expanded={!collapsed} aria-keyshortcuts="i"
        title="Show or hide the instructions (I)">{collapsed ? "»" : "« Hide instructions"}</button>
      {!collapsed && (
        <>
          <h2>Instructions</h2>
          {settings.data?.instructions ? <Markdown text={settings.data.instructions} />
            : <p className="muted">No instructions for this project.</p>}
          {images.data && images.data.length > 0 && <h3>Examples</h3>}
          {images.data?.map((image) => (
            <figure key={image.id} style={{ margin: "0 0 10px" }}>
              <img src={image.url} alt={image.caption || "Example image"} loading="lazy" />
              {image.caption && <figcaption className="muted">{image.caption}</figcaption>}
            </figure>
          ))}
        </>
      )}
    </aside>
  );
}

export function Feedback({ schema, response }: { schema: Schema; response: AnswerResponse }) {
  const feedback = response.feedback!;
  const { qualification, fields } = feedback;
  return (
    <section className={feedback.correct ? "notice good feedback" : "notice bad feedback"} role="status" aria-live="polite">
      <h2>{feedback.correct ? "Right" : "Not quite"} — {feedback.kind === "qualification" ? "qualification item" : "a check item"}</h2>
      <ul>
        {Object.entries(fields).map(([key, result]) => {
          const field = schema.fields.find((candidate) => candidate.key === key);
          if (!field) return null;
          return (
            <li key={key}>
              <strong>{field.label ?? key}</strong>: {result.correct ? "right" : "wrong"}
              {!result.correct && <> — expected {describeValue(field, result.expected)}, you gave {describeValue(field, result.given)}</>}
            </li>
          );
        })}
      </ul>
      {feedback.explanation && <p>{feedback.explanation}</p>}
      {qualification && (
        <p>
          Qualification: {qualification.right} of {qualification.answered} right so far ({qualification.of} items).
          {qualification.status === "passed" && <strong> You are qualified: real tasks come next.</strong>}
          {qualification.status === "failed" && <strong> You did not pass the qualification for this stage.</strong>}
        </p>
      )}
    </section>
  );
}

function StandingPanel({ standing }: { standing: Standing | null }) {
  if (!standing) return null;
  const reliability = standing.reliability === null ? "—" : `${Math.round(standing.reliability * 100)} %`;
  return (
    <details className="standing">
      <summary>Your record: {standing.answers} answers ({standing.answers_today} today), reliability {reliability}</summary>
      {standing.requires_qualification && (
        <p>Qualification: {standing.qualification.replace("_", " ")} ({standing.qualification_correct} of{" "}
          {standing.qualification_answered} right, {standing.qualification_items} items)</p>
      )}
      <ol className="muted">
        {standing.recent.map((entry, index) => (
          <li key={index}>
            {new Date(entry.at).toLocaleTimeString()} {entry.skipped ? `skipped (${entry.skipped})` : "answered"}
            {entry.known_answer && ` · ${entry.known_answer} item ${entry.correct ? "right" : "wrong"}`}
          </li>
        ))}
      </ol>
    </details>
  );
}

export default function LabelingScreen() {
  const { slug = "", stageId = "" } = useParams();
  const stagePath = `/api/projects/${slug}/stages/${stageId}`;
  const [task, setTask] = useState<TaskPayload | null>(null);
  const [phase, setPhase] = useState<Phase>({ kind: "loading" });
  const ahead = useRef<Promise<TaskPayload | null> | null>(null);
  const history = useHistory<Draft>({});
  const draft = history.current;
  const [activeField, setActiveField] = useState<string | null>(null);
  const [navigation, setNavigation] = useState<ViewerTool>("WindowLevel");
  const [erasing, setErasing] = useState(false);
  const [brushRadius, setBrushRadius] = useState(4);
  const [position, setPosition] = useState<ViewerPosition | null>(null);
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [instructionsCollapsed, setInstructionsCollapsed] = useState(false);
  const [skipping, setSkipping] = useState(false);
  const [skipReason, setSkipReason] = useState(SKIP_REASONS[0]);
  const [skipOther, setSkipOther] = useState("");
  const [submitting, setSubmitting] = useState(false);
  const [standing, setStanding] = useState<Standing | null>(null);
  const [helpOpen, setHelpOpen] = useState(false);
  // The fields the model's pre-label filled in this task's draft; empty: the worker started blank.
  const [prefilled, setPrefilled] = useState<string[]>([]);
  const viewer = useRef<ViewerHandle>(null);
  const remaining = useLeaseCountdown(phase.kind === "working" ? task?.lease_expires_at : null);

  const schema = task?.schema.definition ?? { fields: [] };
  const shortcuts = useMemo(() => assignShortcuts(schema), [schema]);
  const brush = useMemo(() => brushField(schema), [schema]);
  const defaultInstance = task?.instances[0]?.sop_instance_uid ?? "";
  const shapes = useMemo(() => lockWhileDrawing(shapesOf(schema, draft as Record<string, unknown>,
    { prefix: "draft", locked: false, defaultInstance }), activeField), [schema, draft, defaultInstance, activeField]);
  const active = schema.fields.find((field) => field.key === activeField) ?? null;
  const tool: ViewerTool = !active ? navigation
    : active.kind === "brush_mask" ? (erasing ? "eraser" : "brush") : DRAWING_KIND[active.kind] ?? navigation;
  const calibration: Calibration | null = position?.calibration ?? null;

  const refreshStanding = useCallback(() => {
    api<Standing>(`${stagePath}/me/`).then(setStanding, () => undefined);
  }, [stagePath]);

  const start = useCallback((payload: TaskPayload) => {
    setTask(payload);
    const initial = startDraft(payload.schema.definition, payload.prelabel);
    history.reset(initial.draft);
    setPrefilled(initial.prefilled);
    setActiveField(null);
    setProblems({});
    setPhase({ kind: "working" });
    // While this task is worked on, lease the one after it and load its images.
    ahead.current = api<TaskPayload | null>(`${stagePath}/next/`, { body: { after: payload.assignment } })
      .then((next) => {
        if (next && next.assignment !== payload.assignment) {
          warmTask(next);
          return next;
        }
        return null;
      }, () => null);
  }, [history, stagePath]);

  const takeNext = useCallback(async () => {
    setPhase({ kind: "loading" });
    const prefetched = ahead.current ? await ahead.current : null;
    ahead.current = null;
    if (prefetched && prefetched.lease_expires_at && Date.parse(prefetched.lease_expires_at) > Date.now() + 5000) {
      start(prefetched);
      return;
    }
    try {
      const next = await api<TaskPayload | null>(`${stagePath}/next/`, { body: {} });
      if (next) start(next);
      else setPhase({ kind: "done", message: "No task is left for you in this stage. Thank you!" });
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) setPhase({ kind: "blocked", message: error.message });
      else setPhase({ kind: "error", message: (error as Error).message });
    }
    refreshStanding();
  }, [stagePath, start, refreshStanding]);

  useEffect(() => {
    void takeNext();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [stagePath]);

  useEffect(() => {
    if (remaining === 0 && phase.kind === "working") setPhase({ kind: "expired" });
  }, [remaining, phase.kind]);

  const change = useCallback((key: string, value: DraftValue) => {
    history.push({ ...history.current, [key]: value }, typeof value === "string" ? `text:${key}` : undefined);
    setProblems((previous) => {
      if (!previous[key]) return previous;
      const rest = { ...previous };
      delete rest[key];
      return rest;
    });
  }, [history]);

  const send = useCallback(async (body: Record<string, unknown>) => {
    if (!task || submitting) return;
    setSubmitting(true);
    try {
      const response = await api<AnswerResponse>(`/api/assignments/${task.assignment}/answer/`, { body });
      if (response.feedback) {
        setPhase({ kind: "feedback", response });
        refreshStanding();
      } else {
        await takeNext();
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) {
        setPhase({ kind: "expired" });
      } else if (error instanceof ApiError && error.status === 400) {
        const value = (error.body as { value?: Record<string, string[]> }).value;
        if (value) setProblems(Object.fromEntries(Object.entries(value).map(([key, messages]) => [key, [messages].flat().join(" ")])));
        else setProblems({ _: error.message });
      } else {
        setProblems({ _: (error as Error).message });
      }
    } finally {
      setSubmitting(false);
    }
  }, [task, submitting, takeNext, refreshStanding]);

  const submit = useCallback(() => {
    const { value, problems: found } = serializeAnswer(schema, draft);
    setProblems(found);
    if (Object.keys(found).length) {
      document.querySelector<HTMLElement>(`[data-field="${Object.keys(found)[0]}"] button, [data-field="${Object.keys(found)[0]}"] input`)?.focus();
      return;
    }
    // The server keeps the pre-label the answer started from, so agreement can tell anchored answers apart.
    void send(answerBody(value, prefilled));
  }, [schema, draft, send, prefilled]);

  const startBlank = useCallback(() => {
    history.reset({});
    setPrefilled([]);
    setProblems({});
    setActiveField(null);
  }, [history]);

  const skip = useCallback(() => {
    const reason = skipReason === "other" ? skipOther.trim() : skipReason;
    if (!reason) return;
    setSkipping(false);
    void send({ skip_reason: reason });
  }, [skipReason, skipOther, send]);

  useShortcuts((event) => {
    const key = event.key.toLowerCase();
    if (phase.kind === "feedback") {
      if (key === "enter") { event.preventDefault(); void takeNext(); }
      return;
    }
    if (phase.kind !== "working" || skipping) return;
    if ((event.ctrlKey || event.metaKey) && key === "z") { event.preventDefault(); event.shiftKey ? history.redo() : history.undo(); return; }
    if ((event.ctrlKey || event.metaKey) && key === "y") { event.preventDefault(); history.redo(); return; }
    if (event.ctrlKey || event.metaKey) return;
    const action = shortcutAction(schema, shortcuts, draft, key, position);
    if (action) {
      event.preventDefault();
      if (action.kind === "set") change(action.field, action.value);
      else setActiveField((current) => (current === action.field ? null : action.field));
      return;
    }
    switch (key) {
      case " ": event.preventDefault(); viewer.current?.togglePlay(); break;
      case "arrowleft": event.preventDefault(); viewer.current?.step(-1); break;
      case "arrowright": event.preventDefault(); viewer.current?.step(1); break;
      case "r": viewer.current?.reset(); break;
      case "v": setActiveField(null); setNavigation("WindowLevel"); break;
      case "p": setActiveField(null); setNavigation("Pan"); break;
      case "z": setActiveField(null); setNavigation("Zoom"); break;
      case "b": if (brush) { setActiveField(brush.key); setErasing(false); } break;
      case "x": if (brush) { setActiveField(brush.key); setErasing(true); } break;
      case "[": setBrushRadius((value) => Math.max(1, value - 1)); break;
      case "]": setBrushRadius((value) => Math.min(40, value + 1)); break;
      case "escape": setActiveField(null); break;
      case "enter": event.preventDefault(); submit(); break;
      case "s": setSkipping(true); break;
      case "i": setInstructionsCollapsed((value) => !value); break;
      case "?": setHelpOpen((value) => !value); break;
      default:
    }
  });

  const working = phase.kind === "working";
  return (
    <div className="workspace">
      <Instructions slug={slug} collapsed={instructionsCollapsed} onToggle={() => setInstructionsCollapsed((value) => !value)} />
      <main className="center" aria-label="Labeling">
        <div className="toolbar" role="toolbar" aria-label="Image tools">
          {(["WindowLevel", "Pan", "Zoom"] as const).map((name) => (
            <button key={name} type="button" aria-pressed={!active && navigation === name}
              onClick={() => { setActiveField(null); setNavigation(name); }}
              aria-keyshortcuts={{ WindowLevel: "v", Pan: "p", Zoom: "z" }[name]}>
              <kbd>{{ WindowLevel: "V", Pan: "P", Zoom: "Z" }[name]}</kbd> {{ WindowLevel: "Window/level", Pan: "Pan", Zoom: "Zoom" }[name]}
            </button>
          ))}
          {brush && active?.key === brush.key && (
            <>
              <button type="button" aria-pressed={!erasing} onClick={() => setErasing(false)}><kbd>B</kbd> Brush</button>
              <button type="button" aria-pressed={erasing} onClick={() => setErasing(true)}><kbd>X</kbd> Eraser</button>
              <label>Size <input type="range" min={1} max={40} value={brushRadius} aria-label="Brush size"
                onChange={(event) => setBrushRadius(Number(event.target.value))} /> {brushRadius} mm</label>
            </>
          )}
          <button type="button" onClick={history.undo} disabled={!history.canUndo} aria-keyshortcuts="Control+Z">Undo</button>
          <button type="button" onClick={history.redo} disabled={!history.canRedo} aria-keyshortcuts="Control+Shift+Z">Redo</button>
          <span className="spacer" />
          {task && <span className="muted">{task.stage.name}</span>}
          {remaining !== null && (
            <span className={remaining < 60 ? "lease warn" : "lease"} role="timer" aria-label="Time left on this task">
              Time left {formatCountdown(remaining)}
            </span>
          )}
          <button type="button" className="link" onClick={() => setHelpOpen((value) => !value)} aria-keyshortcuts="?">Keys</button>
        </div>
        {task ? (
          <Viewer ref={viewer} instances={task.instances} tool={tool} shapes={shapes} brushRadiusMm={brushRadius}
            maskEnabled={Boolean(brush)} mask={maskOf(draft, brush)} onPosition={setPosition}
            onDrawn={(shape) => {
              const next = applyDrawing(schema, draft, activeField, shape);
              if (next) history.push(next);
            }}
            onMaskPainted={(mask) => brush && change(brush.key, mask ? { ...mask } : null)} />
        ) : <div className="viewer" />}
      </main>
      <aside className="side right" aria-label="Answer">
        {phase.kind === "loading" && <p role="status">Taking the next task…</p>}
        {phase.kind === "done" && <div className="notice good" role="status">{phase.message} <Link to="/">Back to your projects</Link></div>}
        {phase.kind === "blocked" && <div className="notice bad" role="alert">{phase.message}</div>}
        {phase.kind === "error" && <div className="notice bad" role="alert">{phase.message}
          <p><button type="button" onClick={() => void takeNext()}>Try again</button></p></div>}
        {phase.kind === "expired" && (
          <div className="notice warn" role="alert">The time for this task ran out, so it went back to the queue.
            <p><button type="button" className="primary" onClick={() => void takeNext()}>Take the next task</button></p></div>
        )}
        {phase.kind === "feedback" && task && (
          <>
            <Feedback schema={schema} response={phase.response} />
            <button type="button" className="primary" onClick={() => void takeNext()} autoFocus>Next task <kbd>⏎</kbd></button>
          </>
        )}
        {task && working && standing?.requires_qualification && standing.qualification !== "passed" && (
          <p className="notice" role="status">Qualification: answer these {standing.qualification_items} items as
            well as you can. Each answer comes back with the expert's answer; real tasks follow once you pass.</p>
        )}
        {task && working && prefilled.length > 0 && (
          <div className="notice warn prelabel-notice" role="status">
            <p><strong>Started from the model's suggestion: check it and change what is wrong.</strong></p>
            <p className="muted">Filled in by the model: {prefilled.map((key) =>
              schema.fields.find((field) => field.key === key)?.label ?? key).join(", ")}.</p>
            <button type="button" onClick={startBlank} disabled={submitting}>Start blank</button>
          </div>
        )}
        {task && working && (
          <>
            <SchemaForm schema={schema} draft={draft} onChange={change} shortcuts={shortcuts} activeField={activeField}
              onSelectField={(key) => { setActiveField(key); setErasing(false); }} position={position}
              onGoTo={(instance, frame) => viewer.current?.goTo(instance, frame)} problems={problems}
              calibration={calibration} disabled={submitting} />
            {problems._ && <p className="problem" role="alert">{problems._}</p>}
            <div className="submit-bar">
              <button type="button" className="primary" onClick={submit} disabled={submitting} aria-keyshortcuts="Enter">
                Submit and next <kbd>⏎</kbd>
              </button>
              <button type="button" onClick={() => setSkipping(true)} disabled={submitting} aria-keyshortcuts="s">
                Skip… <kbd>S</kbd>
              </button>
            </div>
          </>
        )}
        <StandingPanel standing={standing} />
      </aside>
      {skipping && (
        <dialog open aria-labelledby="skip-title" onKeyDown={(event) => event.key === "Escape" && setSkipping(false)}>
          <h2 id="skip-title">Skip this task</h2>
          <fieldset style={{ border: "none", padding: 0 }}>
            <legend>Why?</legend>
            {[...SKIP_REASONS, "other"].map((reason) => (
              <label key={reason} style={{ display: "block", margin: "4px 0" }}>
                <input type="radio" name="skip" value={reason} checked={skipReason === reason}
                  onChange={() => setSkipReason(reason)} /> {reason === "other" ? "Another reason:" : reason}
              </label>
            ))}
            {skipReason === "other" && <input aria-label="Your reason" value={skipOther} maxLength={200} autoFocus
              onChange={(event) => setSkipOther(event.target.value)} />}
          </fieldset>
          <p className="actions">
            <button type="button" className="primary" onClick={skip}>Skip</button>
            <button type="button" onClick={() => setSkipping(false)}>Cancel</button>
          </p>
        </dialog>
      )}
      {helpOpen && (
        <dialog open aria-labelledby="keys-title">
          <h2 id="keys-title">Keyboard</h2>
          <table><tbody>
            {[...shortcuts.byKey.entries()].map(([key, target]) => {
              const field = schema.fields.find((candidate) => candidate.key === target.field);
              const name = field?.label ?? target.field;
              return <tr key={key}><td><kbd>{keyLabel(key)}</kbd></td><td>{target.option !== undefined ? `${name}: ${target.option}`
                : target.frameLabel ? `Mark ${target.frameLabel} (${name})` : `Tool: ${name}`}</td></tr>;
            })}
            {[["Space", "Play / pause"], ["← →", "Previous / next frame"], ["V P Z", "Window/level, pan, zoom"],
              ["R", "Reset the view"], ["B X [ ]", "Brush, eraser, brush size"], ["Ctrl+Z / Ctrl+Shift+Z", "Undo / redo"],
              ["Enter", "Submit and next"], ["S", "Skip with a reason"], ["I", "Instructions"], ["Esc", "Put the tool down"]]
              .map(([key, what]) => <tr key={key}><td><kbd>{key}</kbd></td><td>{what}</td></tr>)}
          </tbody></table>
          <p><button type="button" onClick={() => setHelpOpen(false)}>Close</button></p>
        </dialog>
      )}
    </div>
  );
}
