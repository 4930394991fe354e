// The expert's review screen: the routed queue, every earlier answer overlaid on the image (one colour
// per worker, each toggled on or off), the consensus and its confidence, the stage's agreement
// figures, and accept / correct (editing the consensus with the labeling tools) / reject.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useParams } from "react-router";
import { api, ApiError } from "../api";
import { useApi, useShortcuts } from "../common/hooks";
import { describeValue, draftFromAnswer, serializeAnswer, visibleFields, type Draft, type DraftValue } from "../labeling/answers";
import { formatCountdown, useLeaseCountdown } from "../labeling/LabelingScreen";
import { SchemaForm } from "../labeling/SchemaForm";
import {
  applyDrawing, brushField, CONSENSUS_COLOR, DRAWING_KIND, lockWhileDrawing, maskOf, shapesOf, WORKER_COLORS,
} from "../labeling/shapes";
import { assignShortcuts, shortcutAction } from "../labeling/shortcuts";
import { useHistory } from "../labeling/useHistory";
import type { AnswerValue, Field, ResultProposal, StageOutcome, TaskPayload } from "../types";
import { Viewer, type ViewerHandle, type ViewerPosition, type ViewerTool } from "../viewer/Viewer";
import { warmTask } from "../viewer/warm";
import { AgreementPanel } from "./AgreementPanel";

interface QueueEntry { task: number; item: number; round: number; series_uid: string | null; from_stage: string | null;
  confidence: number | null }

type Mode = "view" | "correct";

function percent(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : `${Math.round(value * 100)} %`;
}

/** The label stage at the root of what is reviewed, and the levels above it. */
function labelLevel(review: StageOutcome[]): StageOutcome | null {
  return [...review].reverse().find((level) => level.stage.kind === "label") ?? review[review.length - 1] ?? null;
}

export default function ReviewScreen() {
  const { slug = "", stageId = "" } = useParams();
  const stagePath = `/api/projects/${slug}/stages/${stageId}`;
  const queue = useApi<QueueEntry[]>(`${stagePath}/queue/`);
  const [task, setTask] = useState<TaskPayload | null>(null);
  const [status, setStatus] = useState<{ kind: "idle" | "loading" | "empty" | "error"; message?: string }>({ kind: "loading" });
  const [mode, setMode] = useState<Mode>("view");
  const [hidden, setHidden] = useState<Set<string>>(new Set());
  const [note, setNote] = useState("");
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [submitting, setSubmitting] = useState(false);
  const [activeField, setActiveField] = useState<string | null>(null);
  const [navigation, setNavigation] = useState<ViewerTool>("WindowLevel");
  const [position, setPosition] = useState<ViewerPosition | null>(null);
  const history = useHistory<Draft>({});
  const viewer = useRef<ViewerHandle>(null);
  const ahead = useRef<Promise<TaskPayload | null> | null>(null);
  const remaining = useLeaseCountdown(task?.lease_expires_at);

  const schema = task?.schema.definition ?? { fields: [] };
  const levels = task?.review ?? [];
  const root = labelLevel(levels);
  const consensusLevel = levels[0] ?? null;
  const consensusAnswer = useMemo(() => {
    const fields = consensusLevel?.consensus?.fields ?? {};
    return Object.fromEntries(Object.entries(fields).filter(([key]) => !key.startsWith("_"))
      .map(([key, field]) => [key, field.value]));
  }, [consensusLevel]);
  const defaultInstance = task?.instances[0]?.sop_instance_uid ?? "";
  // The server's rule, shown here: a tie or an empty consensus cannot be kept, only corrected or rejected.
  const canAccept = task?.accept?.allowed ?? true;
  const shortcuts = useMemo(() => assignShortcuts(schema), [schema]);
  const brush = useMemo(() => brushField(schema), [schema]);

  const shapes = useMemo(() => {
    if (!task) return [];
    const answers = root?.answers ?? [];
    const overlays = answers.flatMap((answer, index) => hidden.has(answer.worker) || answer.skip_reason ? [] :
      shapesOf(schema, answer.value, { prefix: answer.worker, color: WORKER_COLORS[index % WORKER_COLORS.length],
        locked: true, label: answer.worker, defaultInstance }));
    if (mode === "correct") {
      return [...overlays, ...lockWhileDrawing(shapesOf(schema, history.current as Record<string, unknown>,
        { prefix: "draft", color: CONSENSUS_COLOR, locked: false, label: "Correction", defaultInstance }), activeField)];
    }
    return hidden.has("consensus") ? overlays : [...overlays, ...shapesOf(schema, consensusAnswer,
      { prefix: "consensus", color: CONSENSUS_COLOR, locked: true, label: "Consensus", defaultInstance })];
  }, [task, root, hidden, schema, mode, history, consensusAnswer, defaultInstance, activeField]);

  const start = useCallback((payload: TaskPayload) => {
    setTask(payload);
    setMode("view");
    setNote("");
    setProblems({});
    setActiveField(null);
    setHidden(new Set());
    setStatus({ kind: "idle" });
    ahead.current = api<TaskPayload | null>(`${stagePath}/next/`, { body: { after: payload.assignment } })
      .then((next) => (next && next.assignment !== payload.assignment ? (warmTask(next), next) : null), () => null);
  }, [stagePath]);

  const takeNext = useCallback(async () => {
    setStatus({ kind: "loading" });
    const prefetched = ahead.current ? await ahead.current : null;
    ahead.current = null;
    try {
      const next = prefetched ?? await api<TaskPayload | null>(`${stagePath}/next/`, { body: {} });
      if (next) start(next);
      else {
        setTask(null);
        setStatus({ kind: "empty", message: "Nothing is waiting for your review in this stage." });
      }
    } catch (error) {
      setStatus({ kind: "error", message: (error as Error).message });
    }
    queue.reload();
  }, [stagePath, start, queue]);

  useEffect(() => {
    void takeNext();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [stagePath]);

  const send = useCallback(async (body: Record<string, unknown>) => {
    if (!task) return;
    setSubmitting(true);
    try {
      await api(`/api/assignments/${task.assignment}/answer/`, { body });
      await takeNext();
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) {
        setProblems({ _: (error.body as { detail?: string }).detail ?? error.message });
      } else if (error instanceof ApiError && error.status === 400) {
        const value = (error.body as { value?: Record<string, string[]> }).value;
        setProblems(value ? Object.fromEntries(Object.entries(value).map(([key, messages]) => [key, [messages].flat().join(" ")]))
          : { _: error.message });
      } else {
        setProblems({ _: (error as Error).message });
      }
    } finally {
      setSubmitting(false);
    }
  }, [task, takeNext]);

  const startCorrection = useCallback(() => {
    history.reset(draftFromAnswer(schema, consensusAnswer as Record<string, unknown>));
    setMode("correct");
    setProblems({});
  }, [history, schema, consensusAnswer]);

  const submitCorrection = useCallback(() => {
    const { value, problems: found } = serializeAnswer(schema, history.current);
    setProblems(found);
    if (!Object.keys(found).length) void send({ verdict: "correct", value, note });
  }, [schema, history, send, note]);

  const reject = useCallback(() => {
    if (!note.trim()) {
      setProblems({ note: "say why you reject it" });
      document.getElementById("review-note")?.focus();
      return;
    }
    void send({ verdict: "reject", note });
  }, [note, send]);

  const change = useCallback((key: string, value: DraftValue) => {
    history.push({ ...history.current, [key]: value }, typeof value === "string" ? `text:${key}` : undefined);
  }, [history]);

  useShortcuts((event) => {
    const key = event.key.toLowerCase();
    if (!task || submitting) return;
    if ((event.ctrlKey || event.metaKey) && key === "z" && mode === "correct") {
      event.preventDefault();
      event.shiftKey ? history.redo() : history.undo();
      return;
    }
    if (event.ctrlKey || event.metaKey) return;
    if (mode === "correct") {
      const action = shortcutAction(schema, shortcuts, history.current, key, position);
      if (action) {
        event.preventDefault();
        if (action.kind === "set") change(action.field, action.value);
        else setActiveField((current) => (current === action.field ? null : action.field));
        return;
      }
      if (key === "enter") { event.preventDefault(); submitCorrection(); return; }
      if (key === "escape") { setActiveField(null); return; }
    } else {
      if (key === "a") { event.preventDefault(); if (canAccept) void send({ verdict: "accept", note }); return; }
      if (key === "c") { event.preventDefault(); startCorrection(); return; }
      if (key === "j") { event.preventDefault(); reject(); return; }
    }
    if (key === " ") { event.preventDefault(); viewer.current?.togglePlay(); }
    if (key === "arrowleft") { event.preventDefault(); viewer.current?.step(-1); }
    if (key === "arrowright") { event.preventDefault(); viewer.current?.step(1); }
    if (key === "r") viewer.current?.reset();
    if (key === "v" || key === "p" || key === "z") {
      setActiveField(null);
      setNavigation(key === "v" ? "WindowLevel" : key === "p" ? "Pan" : "Zoom");
    }
  });

  const active = mode === "correct" ? schema.fields.find((field) => field.key === activeField) : undefined;
  const tool: ViewerTool = !active ? navigation : active.kind === "brush_mask" ? "brush" : DRAWING_KIND[active.kind] ?? navigation;
  const toggle = (name: string) => setHidden((current) => {
    const next = new Set(current);
    if (next.has(name)) next.delete(name); else next.add(name);
    return next;
  });

  return (
    <div className="workspace">
      <aside className="side queue" aria-label="Review queue">
        <h2>Waiting for review</h2>
        {queue.data && <p className="muted">{queue.data.length} item{queue.data.length === 1 ? "" : "s"} in the queue</p>}
        <ol>
          {queue.data?.slice(0, 30).map((entry) => (
            <li key={entry.task}>item {entry.item}{entry.from_stage && <span className="muted"> from {entry.from_stage}</span>}
              {" · "}confidence {percent(entry.confidence)}{entry.round > 1 && ` · round ${entry.round}`}</li>
          ))}
        </ol>
      </aside>
      <main className="center" aria-label="Review">
        <div className="toolbar" role="toolbar" aria-label="Image tools">
          {(["WindowLevel", "Pan", "Zoom"] as const).map((name) => (
            <button key={name} type="button" aria-pressed={!active && navigation === name}
              onClick={() => { setActiveField(null); setNavigation(name); }}>
              {{ WindowLevel: "Window/level", Pan: "Pan", Zoom: "Zoom" }[name]}
            </button>
          ))}
          <span className="spacer" />
          {task && <span className="muted">{task.stage.name} · item under review</span>}
          {remaining !== null && <span className={remaining < 60 ? "lease warn" : "lease"} role="timer">Time left {formatCountdown(remaining)}</span>}
        </div>
        {task ? (
          <Viewer ref={viewer} instances={task.instances} tool={tool} shapes={shapes} onPosition={setPosition}
            maskEnabled={Boolean(brush) && mode === "correct"} mask={mode === "correct" ? maskOf(history.current, brush) : null}
            onMaskPainted={(mask) => brush && change(brush.key, mask)}
            onDrawn={(shape) => {
              if (mode !== "correct") return;
              const next = applyDrawing(schema, history.current, activeField, shape);
              if (next) history.push(next);
            }} label="Image under review" />
        ) : <div className="viewer" />}
      </main>
      <aside className="side right" aria-label="Answers and verdict">
        {status.kind === "loading" && <p role="status">Taking the next item…</p>}
        {status.kind === "empty" && <div className="notice good" role="status">{status.message} <Link to="/">Back to your projects</Link></div>}
        {status.kind === "error" && <div className="notice bad" role="alert">{status.message}</div>}
        {task && root && (
          <>
            <section aria-label="Earlier answers">
              <h2>Answers{root.round > 1 ? ` (round ${root.round})` : ""}</h2>
              <div role="group" aria-label="Show answers">
                {root.answers.map((answer, index) => (
                  <label key={answer.worker} className="worker-chip">
                    <input type="checkbox" checked={!hidden.has(answer.worker)} onChange={() => toggle(answer.worker)} />
                    <span className="swatch" style={{ background: WORKER_COLORS[index % WORKER_COLORS.length] }} />
                    {answer.worker}<span className="muted">{answer.worker_reliability !== null && ` ${percent(answer.worker_reliability)}`}</span>
                  </label>
                ))}
                <label className="worker-chip">
                  <input type="checkbox" checked={!hidden.has("consensus")} onChange={() => toggle("consensus")} />
                  <span className="swatch" style={{ background: CONSENSUS_COLOR, border: "1px solid #999" }} />Consensus
                </label>
              </div>
              <table>
                <thead><tr><th>Field</th>{root.answers.map((answer) => <th key={answer.worker}>{answer.worker}</th>)}
                  <th>Consensus</th></tr></thead>
                <tbody>
                  {visibleFields(schema, consensusAnswer as Draft).map((field) => {
                    const consensus = consensusLevel?.consensus?.fields[field.key];
                    return (
                      <tr key={field.key}>
                        <th scope="row">{field.label ?? field.key}</th>
                        {root.answers.map((answer) => (
                          <td key={answer.worker}>{answer.skip_reason ? <em>skipped: {answer.skip_reason}</em>
                            : describeValue(field, (answer.value as AnswerValue)[field.key])}</td>
                        ))}
                        <td>{describeValue(field, consensus?.value)}
                          {consensus?.share !== undefined && <div className="muted">share {percent(consensus.share)}
                            {consensus.calibrated !== null && consensus.calibrated !== undefined && ` · P(right) ${percent(consensus.calibrated)}`}</div>}
                          {consensus?.unanimous !== undefined && consensus.unanimous !== null &&
                            <div className="problem">every worker answered {describeValue(field, consensus.unanimous)}</div>}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
              {consensusLevel?.consensus && (
                <p>Consensus confidence <strong data-testid="consensus-confidence">{percent(consensusLevel.consensus.confidence)}</strong>
                  <span className="muted"> ({consensusLevel.consensus.method.replace(/_/g, " ")})</span></p>
              )}
              {task.proposal && <ProposalPanel proposal={task.proposal} fields={schema.fields} />}
              {levels.length > 1 && levels.slice(0, -1).map((level) => (
                <p key={level.stage.id} className="muted">{level.stage.name}: {level.answers.map((answer) =>
                  `${answer.worker} ${answer.verdict || "answered"}${answer.note ? ` (“${answer.note}”)` : ""}`).join("; ")}</p>
              ))}
            </section>
            <AgreementPanel slug={slug} stageId={root.stage.id} />
            {mode === "correct" && (
              <section aria-label="Correction">
                <h2>Your correction</h2>
                <SchemaForm schema={schema} draft={history.current} onChange={change} shortcuts={shortcuts}
                  activeField={activeField} onSelectField={setActiveField} position={position} problems={problems}
                  onGoTo={(instance, frame) => viewer.current?.goTo(instance, frame)} calibration={position?.calibration ?? null}
                  disabled={submitting} />
              </section>
            )}
            <label htmlFor="review-note" style={{ fontWeight: 600 }}>Note</label>
            <textarea id="review-note" rows={2} value={note} onChange={(event) => setNote(event.target.value)}
              placeholder="What you saw (required to reject)" />
            {problems.note && <p className="problem" role="alert">{problems.note}</p>}
            {task.accept?.message && mode === "view" &&
              <p id="accept-refused" className={canAccept ? "muted" : "problem"} data-testid="accept-status">{task.accept.message}</p>}
            {problems._ && <p className="problem" role="alert">{problems._}</p>}
            <div className="submit-bar">
              {mode === "view" ? (
                <>
                  <button type="button" className="primary" disabled={submitting || !canAccept}
                    aria-describedby={canAccept ? undefined : "accept-refused"}
                    onClick={() => void send({ verdict: "accept", note })}>
                    <kbd>A</kbd> Accept</button>
                  <button type="button" disabled={submitting} onClick={startCorrection}><kbd>C</kbd> Correct…</button>
                  <button type="button" className="danger" disabled={submitting} onClick={reject}><kbd>J</kbd> Reject</button>
                </>
              ) : (
                <>
                  <button type="button" className="primary" disabled={submitting} onClick={submitCorrection}>Submit correction <kbd>⏎</kbd></button>
                  <button type="button" onClick={() => setMode("view")}>Cancel</button>
                </>
              )}
            </div>
          </>
        )}
      </aside>
    </div>
  );
}

/** A consensus change a whole-stage run proposed for an accepted item: old and new side by side. */
function ProposalPanel({ proposal, fields }: { proposal: ResultProposal; fields: Field[] }) {
  const changed = fields.filter((field) =>
    JSON.stringify(proposal.previous[field.key] ?? null) !== JSON.stringify(proposal.proposed[field.key] ?? null));
  return (
    <section aria-label="Proposed change" className="notice">
      <h3>Consensus changed since this item was accepted</h3>
      <p className="muted">Run {proposal.run ?? "—"} would change the accepted label; it stays as accepted until you decide.
        Accept takes the new consensus; correct to keep or set another label.</p>
      <table data-testid="proposal">
        <thead><tr><th>Field</th><th>Accepted (old)</th><th>Proposed (new)</th></tr></thead>
        <tbody>
          {changed.map((field) => (
            <tr key={field.key}>
              <th scope="row">{field.label ?? field.key}</th>
              <td>{describeValue(field, proposal.previous[field.key])}
                <div className="muted">share {percent(proposal.previous_consensus[field.key]?.share)}</div></td>
              <td>{describeValue(field, proposal.proposed[field.key])}
                <div className="muted">share {percent(proposal.proposed_consensus[field.key]?.share)}</div></td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
