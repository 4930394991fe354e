// Models (training/): each model learns one field of a label stage from its consensus labels, is
// retrained as labels arrive, and puts first in the stage's queue what it would learn most from.
// Per model: its runs (train, pretrain, rescore; followed every second with progress, cancellable),
// its versions and their figures, what it wants labeled next, its active-learning settings, and
// weights to start from (an uploaded state dict). Below, a form for a new model.
import { useEffect, useId, useMemo, useRef, useState, type ReactNode } from "react";
import { api, ApiError, upload } from "../api";
import { useApi, useInterval, type Loaded } from "../common/hooks";
import type { Field, Stage } from "../types";
import type { ModelPrediction, ModelSpec, ModelTask, ModelVersion, RunKind, TrainingRun, TrainLayers } from "./apiTypes";
import { formatSize } from "./ExportsTab";
import { formatMetric, metricOf } from "./learningCurve";
import {
  checkNumber, defaultStrategy, describePrediction, describeProbabilities, describeRun, isActive, learnableFields,
  newModelBody, newModelForm, NUMBER_SETTINGS, problemsOf, RUN_KINDS, settingsChanges, settingsFormOf, SIZE_SETTING,
  strategiesFor, strategyOf, TASK_HELP, TRAIN_LAYERS, type NewModelForm, type SettingsForm,
} from "./modelsModel";
import {
  ErrorNotice, formatDate, Loading, messageOf, ProgressBar, Section, stageLabel, StatusNotice, useDesign, useStageSchema,
} from "./parts";

const POLL_MS = 1000;
const RUNS_REFRESH_MS = 15_000;
const PREDICTIONS_PAGE = 10;

export default function ModelsTab() {
  const { slug, stages } = useDesign();
  const base = `/api/projects/${slug}`;
  const models = useApi<ModelSpec[]>(`${base}/models/`);
  const labelStages = (stages.data ?? []).filter((stage) => stage.kind === "label");

  if (stages.error) return <ErrorNotice error={stages.error} />;
  if (!stages.data) return <Loading what="the pipeline" />;
  return (
    <div className="models">
      <Section title="Models" id="models-intro" actions={
        <button type="button" onClick={models.reload} disabled={models.loading}>{models.loading ? "Refreshing…" : "Refresh"}</button>}>
        <p className="muted">A model learns one field of a label stage from its consensus labels (gold and expert decisions
          weigh more; a share of them is held out to measure each version). After each training run it scores the items
          still waiting and reorders the stage's queue so that workers first label what it would learn most from. Routing
          rules can weigh its prediction with the crowd's (Pipeline tab), and a stage can show it to workers as a pre-label.</p>
        <ErrorNotice error={models.error} />
        {!models.data && !models.error && <Loading what="the models" />}
        {models.data && models.data.length === 0 && <p className="muted">No model yet: add one below.</p>}
      </Section>
      {models.data?.map((model) => (
        <ModelCard key={model.id} model={model} base={base} stage={labelStages.find((stage) => stage.id === model.stage) ?? null}
          onChanged={models.reload} />
      ))}
      {labelStages.length === 0
        ? <p className="notice warn">Models learn from label stages: add one in the pipeline tab first.</p>
        : models.data && <NewModel base={base} stages={labelStages} models={models.data} onCreated={models.reload} />}
    </div>
  );
}

/** The newest trained version: the one in force. */
function inForce(model: ModelSpec): ModelVersion | null {
  return model.versions.filter((version) => version.kind === "train").sort((a, b) => b.number - a.number)[0] ?? null;
}

function metricsText(model: ModelSpec, version: ModelVersion): string {
  const { metrics } = version;
  if (version.kind === "pretrain") return `self-supervised on ${metrics.images ?? "?"} images`;
  if (version.kind === "upload") return `uploaded ${metrics.source ?? "weights"}: ${metrics.tensors_taken ?? "?"} tensors fitted`;
  const metric = metricOf(model.task);
  const value = metrics[metric.key];
  if (!metrics.n || typeof value !== "number") return `no ${metric.name}: no expert labels held out yet`;
  const auc = model.task === "classification" && typeof metrics.auc === "number" ? `, AUC ${metrics.auc.toFixed(3)}` : "";
  return `${metric.name} ${formatMetric(metric, value)}${auc} on ${metrics.n} held-out expert label${metrics.n === 1 ? "" : "s"}`;
}

function ModelCard({ model, base, stage, onChanged }: { model: ModelSpec; base: string; stage: Stage | null; onChanged: () => void }) {
  const path = `${base}/models/${model.id}`;
  const { schema } = useStageSchema(stage);
  const field = schema?.fields.find((candidate) => candidate.key === model.field);
  const current = inForce(model);
  const title = `model-${model.id}-title`;
  const predictions = useApi<ModelPrediction[]>(`${path}/predictions/`);
  const strategy = strategyOf(model.strategy);
  return (
    <article className="card model-card design-section" aria-labelledby={title}>
      <div className="section-head">
        <h2 id={title}>{model.name}</h2>
        <span className="muted">{TASK_HELP[model.task]} “{field?.label ?? model.field}”{stage ? ` of ${stageLabel(stage)}` : ""}</span>
      </div>
      <p>
        {current ? <>In force: version {current.number}, trained on {current.labels_used} label{current.labels_used === 1 ? "" : "s"}
          {" "}({metricsText(model, current)}).</> : "Not trained yet."}
        {" "}Strategy {strategy?.label ?? model.strategy}; retrains every {model.retrain_every} new label{model.retrain_every === 1 ? "" : "s"}
        {model.retrain_hours > 0 ? ` or every ${model.retrain_hours} h` : ""}.
      </p>
      <div className="grid-2 model-grid">
        <div>
          <Runs model={model} path={path} base={base} hasVersion={current !== null}
            onFinished={() => { onChanged(); predictions.reload(); }} />
          <Versions model={model} />
        </div>
        <Predictions model={model} field={field} predictions={predictions} />
      </div>
      <div className="grid-2 model-grid">
        <ModelSettings model={model} path={path} onSaved={onChanged} />
        <Checkpoint model={model} path={path} onUploaded={onChanged} />
      </div>
    </article>
  );
}

function Runs({ model, path, base, hasVersion, onFinished }: {
  model: ModelSpec; path: string; base: string; hasVersion: boolean; onFinished: () => void;
}) {
  const runs = useApi<TrainingRun[]>(`${path}/runs/`);
  const [followed, setFollowed] = useState<TrainingRun | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<RunKind | "cancel" | null>(null);
  const following = followed !== null && isActive(followed);
  // A run started elsewhere (by new labels, the schedule, another admin) is followed too.
  const waiting = runs.data?.find(isActive) ?? null;
  useEffect(() => {
    // The list may still show as running a run that polling has seen finish: the poll is newer.
    if (waiting && (!followed || (waiting.id !== followed.id && !isActive(followed)))) setFollowed(waiting);
  }, [waiting, followed]);
  const finished = useRef(onFinished);
  finished.current = onFinished;

  const settle = (run: TrainingRun) => {
    setFollowed(run);
    if (!isActive(run)) {
      runs.reload();
      finished.current();
    }
  };
  useInterval(() => {
    if (!followed) return;
    api<TrainingRun>(`${base}/training-runs/${followed.id}/`).then((run) => {
      setError(null);
      settle(run);
    }, (failure) => setError(`Following run ${followed.id}: ${messageOf(failure)}`));
  }, POLL_MS, following);
  useInterval(runs.reload, RUNS_REFRESH_MS, !following);

  const request = async (kind: RunKind) => {
    setBusy(kind);
    setError(null);
    try {
      const run = await api<TrainingRun>(`${path}/runs/`, { body: { kind } });
      setFollowed(run);
      runs.reload();
      if (!isActive(run)) finished.current(); // a worker that runs tasks at once has finished it already
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(null);
    }
  };
  const cancel = async () => {
    if (!followed) return;
    setBusy("cancel");
    setError(null);
    try {
      settle(await api<TrainingRun>(`${base}/training-runs/${followed.id}/cancel/`, { body: {} }));
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(null);
    }
  };

  const kinds: RunKind[] = model.task === "segmentation" ? ["train", "score"] : ["train", "pretrain", "score"];
  const recent = (runs.data ?? []).slice(0, 5);
  return (
    <section className="model-runs" aria-labelledby={`model-${model.id}-runs`}>
      <h3 id={`model-${model.id}-runs`}>Runs</h3>
      <div className="actions">
        {kinds.map((kind) => (
          <button key={kind} type="button" className={kind === "train" ? "primary" : ""} onClick={() => void request(kind)}
            disabled={busy !== null || (kind === "score" && !hasVersion)} aria-describedby={`model-${model.id}-run-${kind}`}>
            {busy === kind ? "Requesting…" : kind === "train" ? "Train now" : RUN_KINDS[kind].label}
            {" "}<span className="sr-only">{model.name}</span>
          </button>
        ))}
      </div>
      <ul className="run-help muted">
        {kinds.map((kind) => (
          <li key={kind} id={`model-${model.id}-run-${kind}`}><strong>{kind === "train" ? "Train now" : RUN_KINDS[kind].label}:</strong>{" "}
            {RUN_KINDS[kind].help}{kind === "score" && !hasVersion ? " (needs a trained version)" : ""}</li>
        ))}
      </ul>
      {followed && (
        <div className={`run-now ${followed.status}`} aria-live="polite">
          <p role="status">{describeRun(followed)}</p>
          {isActive(followed) && (
            <div className="run-progress">
              <ProgressBar value={Math.round(followed.progress * 100)} max={100}
                label={`Run ${followed.id} of ${model.name}: ${Math.round(followed.progress * 100)} %`} />
              <button type="button" className="danger" onClick={() => void cancel()}
                disabled={busy !== null || followed.cancel_requested}>
                {followed.cancel_requested ? "Cancelling…" : "Cancel run"}{" "}<span className="sr-only">{followed.id} of {model.name}</span>
              </button>
            </div>
          )}
          {followed.status === "failed" && followed.error && <p className="problem" role="alert">{followed.error}</p>}
        </div>
      )}
      <ErrorNotice error={error ?? runs.error} />
      {recent.length > 0 && (
        <div className="table-scroll">
          <table className="compact">
            <caption className="sr-only">Recent runs of {model.name}</caption>
            <thead><tr><th scope="col">Run</th><th scope="col">Status</th><th scope="col">Asked</th><th scope="col">Finished</th>
              <th scope="col">Result</th></tr></thead>
            <tbody>
              {recent.map((run) => (
                <tr key={run.id}>
                  <td>{run.id} · {RUN_KINDS[run.kind]?.label ?? run.kind}</td>
                  <td><span className={`job-status ${run.status}`}>{run.status}</span></td>
                  <td>{run.requested_by ?? run.trigger}<br /><span className="muted">{formatDate(run.requested_at)}</span></td>
                  <td>{formatDate(run.finished_at)}</td>
                  <td>{run.status === "failed" ? <span className="problem">{run.error || "failed"}</span>
                    : run.version !== null ? `version ${run.version}${run.kind === "train" ? `, ${run.labels_used} labels` : ""}` : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {runs.data && runs.data.length === 0 && <p className="muted">No run yet.</p>}
    </section>
  );
}

function Versions({ model }: { model: ModelSpec }) {
  const versions = [...model.versions].sort((a, b) => b.number - a.number);
  return (
    <section aria-labelledby={`model-${model.id}-versions`}>
      <h3 id={`model-${model.id}-versions`}>Versions</h3>
      {versions.length === 0 ? <p className="muted">None yet: train it, pretrain it, or upload weights to start from.</p> : (
        <div className="table-scroll versions-scroll">
          <table className="compact">
            <caption className="sr-only">Versions of {model.name}</caption>
            <thead><tr><th scope="col">Version</th><th scope="col">Kind</th><th scope="col">Labels</th><th scope="col">Figures</th>
              <th scope="col">File</th></tr></thead>
            <tbody>
              {versions.map((version) => (
                <tr key={version.id}>
                  <td>{version.number} <span className="muted">(id {version.id})</span><br /><span className="muted">{formatDate(version.created_at)}</span></td>
                  <td>{version.kind}{version.metrics.train_layers ? <><br /><span className="muted">{version.metrics.train_layers} layers</span></> : null}</td>
                  <td>{version.kind === "train" ? version.labels_used : "—"}</td>
                  <td>{metricsText(model, version)}
                    {version.history.length > 0 && <><br /><span className="muted">loss {version.history[0].toFixed(3)} → {version.history[version.history.length - 1].toFixed(3)} over {version.history.length} epochs</span></>}
                  </td>
                  <td>{formatSize(version.size)}<br /><code className="sha" title={`sha256 ${version.sha256}`}>{version.sha256.slice(0, 12)}…</code></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Predictions({ model, field, predictions }: {
  model: ModelSpec; field: Field | undefined; predictions: Loaded<ModelPrediction[]>;
}) {
  const [shown, setShown] = useState(PREDICTIONS_PAGE);
  const rows = predictions.data ?? [];
  const classification = model.task === "classification";
  return (
    <section aria-labelledby={`model-${model.id}-next`}>
      <div className="section-head">
        <h3 id={`model-${model.id}-next`}>What the model wants labeled next</h3>
        <button type="button" onClick={predictions.reload}>Refresh{" "}<span className="sr-only">what {model.name} wants labeled next</span></button>
      </div>
      <ErrorNotice error={predictions.error} />
      {!predictions.data && !predictions.error && <Loading what="the predictions" />}
      {predictions.data && rows.length === 0 && (
        <p className="muted">No predictions yet: a training run scores every item still waiting in the stage.</p>
      )}
      {rows.length > 0 && (
        <>
          <p className="muted">The items waiting, most uncertain first ({rows.length}{rows.length >= 500 ? "+" : ""} scored by
            version {rows[0].version}). The strategy's batch is served first, then the rest by uncertainty.</p>
          <div className="table-scroll">
            <table className="compact">
              <caption className="sr-only">Items {model.name} is least sure of</caption>
              <thead><tr><th scope="col">#</th><th scope="col">Item</th><th scope="col">Model's answer</th>
                <th scope="col">{model.task === "segmentation" ? "Mean pixel certainty" : "Probability"}</th>
                <th scope="col">Uncertainty</th>{classification && <th scope="col">Class probabilities</th>}</tr></thead>
              <tbody>
                {rows.slice(0, shown).map((row, index) => (
                  <tr key={row.item}>
                    <td>{index + 1}</td>
                    <td>{row.item}</td>
                    <td>{describePrediction(row.value, field)}</td>
                    <td>{row.probability === null ? "—" : row.probability.toFixed(2)}</td>
                    <td>{row.uncertainty.toFixed(3)}</td>
                    {classification && <td className="muted">{describeProbabilities(row.probabilities)}</td>}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {rows.length > shown && (
            <button type="button" onClick={() => setShown(shown + PREDICTIONS_PAGE)}>
              Show {Math.min(PREDICTIONS_PAGE, rows.length - shown)} more{" "}<span className="sr-only">items {model.name} wants labeled</span>
            </button>
          )}
        </>
      )}
    </section>
  );
}

/** One row of a settings grid: the label, the control, its line of help and the problem with it. */
function SettingRow({ id, label, help, problem, children }: {
  id: string; label: string; help: ReactNode; problem?: string; children: ReactNode;
}) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      {children}
      <span id={`${id}-help`} className="muted hint">
        {help}
        {problem && <span className="problem setting-problem" role="alert">{problem}</span>}
      </span>
    </>
  );
}

function StrategyGuide({ task }: { task: ModelTask }) {
  return (
    <details className="strategy-guide">
      <summary>What each strategy does</summary>
      <dl>
        {strategiesFor(task).map((strategy) => (
          <div key={strategy.value}><dt>{strategy.label}</dt><dd>{strategy.help}</dd></div>
        ))}
      </dl>
    </details>
  );
}

type NumberSetting = (typeof NUMBER_SETTINGS)[number];
type TrainingFields = Record<NumberSetting["key"], string> & { train_layers: TrainLayers };

/** The rows both model forms share: the active-learning and training numbers, and the layers trained. */
function TrainingSettingRows({ form, id, problems, set, onBlur }: {
  form: TrainingFields; id: (key: string) => string; problems: Record<string, string | undefined>;
  set: (change: Partial<TrainingFields>) => void; onBlur?: (setting: NumberSetting) => void;
}) {
  return (
    <>
      {NUMBER_SETTINGS.map((setting) => (
        <SettingRow key={setting.key} id={id(setting.key)} label={setting.label} help={setting.help} problem={problems[setting.key]}>
          <input id={id(setting.key)} inputMode="decimal" value={form[setting.key]} aria-describedby={`${id(setting.key)}-help`}
            aria-invalid={Boolean(problems[setting.key])} onChange={(event) => set({ [setting.key]: event.target.value })}
            onBlur={() => onBlur?.(setting)} />
        </SettingRow>
      ))}
      <SettingRow id={id("train_layers")} label="Layers trained" help={TRAIN_LAYERS.find((choice) => choice.value === form.train_layers)?.help ?? ""}
        problem={problems.train_layers}>
        <select id={id("train_layers")} value={form.train_layers} aria-describedby={`${id("train_layers")}-help`}
          onChange={(event) => set({ train_layers: event.target.value as TrainLayers })}>
          {TRAIN_LAYERS.map((choice) => <option key={choice.value} value={choice.value}>{choice.label}</option>)}
        </select>
      </SettingRow>
    </>
  );
}

function ModelSettings({ model, path, onSaved }: { model: ModelSpec; path: string; onSaved: () => void }) {
  const [form, setForm] = useState<SettingsForm>(() => settingsFormOf(model));
  const [serverProblems, setServerProblems] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  useEffect(() => setForm(settingsFormOf(model)), [model]);
  const { body, problems } = settingsChanges(model, form);
  const shownProblems = { ...problems, ...serverProblems };
  const id = (key: string) => `model-${model.id}-${key}`;
  const set = (change: Partial<SettingsForm>) => {
    setForm({ ...form, ...change });
    setServerProblems((previous) => {
      const rest = { ...previous };
      for (const key of Object.keys(change)) delete rest[key];
      return rest;
    });
  };

  const save = async () => {
    if (Object.keys(problems).length) {
      setError("Fix the settings marked first.");
      return;
    }
    setSaving(true);
    setError(null);
    setServerProblems({});
    try {
      await api(path + "/", { method: "PATCH", body });
      setStatus(`Saved: ${Object.keys(body).join(", ").replaceAll("_", " ")}.`);
      onSaved();
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 400) {
        setServerProblems(problemsOf(failure.body));
        setError("The server refused the settings; see the fields marked.");
      } else {
        setError(messageOf(failure));
      }
    } finally {
      setSaving(false);
    }
  };

  return (
    <form className="model-settings" onSubmit={(event) => { event.preventDefault(); void save(); }}>
      <h3>Settings</h3>
      <div className="field-grid">
        <SettingRow id={id("name")} label="Name" help="Shown in lists and on the dashboard." problem={shownProblems.name}>
          <input id={id("name")} value={form.name} onChange={(event) => set({ name: event.target.value })}
            aria-describedby={`${id("name")}-help`} />
        </SettingRow>
        <SettingRow id={id("strategy")} label="Strategy" help={strategyOf(form.strategy)?.help ?? ""} problem={shownProblems.strategy}>
          <select id={id("strategy")} value={form.strategy} onChange={(event) => set({ strategy: event.target.value })}
            aria-describedby={`${id("strategy")}-help`}>
            {!strategyOf(form.strategy) && <option value={form.strategy}>{form.strategy}</option>}
            {strategiesFor(model.task).map((strategy) => <option key={strategy.value} value={strategy.value}>{strategy.label}</option>)}
          </select>
        </SettingRow>
        <TrainingSettingRows form={form} id={id} problems={shownProblems} set={set} />
      </div>
      <StrategyGuide task={model.task} />
      <p className="muted">A new strategy orders the queue from the next run; rescore to apply it now. The field, task and input
        size are fixed once a model exists.</p>
      <div className="actions">
        <button type="submit" className="primary" disabled={saving || Object.keys(body).length === 0}>
          {saving ? "Saving…" : "Save settings"}{" "}<span className="sr-only">of {model.name}</span>
        </button>
        <button type="button" disabled={saving} onClick={() => { setForm(settingsFormOf(model)); setServerProblems({}); setError(null); }}>
          Undo changes{" "}<span className="sr-only">to {model.name}</span>
        </button>
      </div>
      <ErrorNotice error={error} />
      <StatusNotice message={status} />
    </form>
  );
}

function Checkpoint({ model, path, onUploaded }: { model: ModelSpec; path: string; onUploaded: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [file, setFile] = useState<File | null>(null);
  const [share, setShare] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const inputId = `model-${model.id}-checkpoint`;

  const send = async () => {
    if (!file) {
      setError("Choose a weights file first.");
      return;
    }
    const form = new FormData();
    form.append("file", file);
    setError(null);
    setStatus(null);
    setShare(0);
    try {
      const updated = await upload<ModelSpec>(`${path}/checkpoint/`, form, setShare);
      const version = [...updated.versions].sort((a, b) => b.number - a.number)[0];
      setStatus(version ? `${file.name} is version ${version.number}: ${version.metrics.tensors_taken ?? "?"} tensors fitted the network. `
        + "The next training starts from it." : `${file.name} uploaded.`);
      setFile(null);
      if (input.current) input.current.value = "";
      onUploaded();
    } catch (failure) {
      const problems = failure instanceof ApiError && failure.status === 400 ? problemsOf(failure.body) : {};
      setError(problems.file ?? messageOf(failure));
    } finally {
      setShare(null);
    }
  };

  return (
    <form className="model-checkpoint" onSubmit={(event) => { event.preventDefault(); void send(); }}>
      <h3>Start from weights</h3>
      <p className="muted">Upload a PyTorch state dict (.pt or .pth; a MONAI bundle's models/model.pt is one): the weights whose
        names and shapes fit this model's network are taken, the rest start fresh. Training starts from the newest upload or
        pretraining.{model.has_checkpoint ? " This model has uploaded weights." : ""}</p>
      <div className="form-row">
        <label htmlFor={inputId}>Weights file <span className="sr-only">for {model.name}</span></label>
        <input id={inputId} ref={input} type="file" onChange={(event) => { setFile(event.target.files?.[0] ?? null); setError(null); }} />
        <button type="submit" disabled={!file || share !== null}>
          {share !== null ? "Uploading…" : "Upload weights"}{" "}<span className="sr-only">for {model.name}</span>
        </button>
      </div>
      {share !== null && <ProgressBar value={Math.round(share * 100)} max={100} label={`Upload ${Math.round(share * 100)} % sent`} />}
      {share !== null && share >= 1 && <p className="muted" role="status">Sent; the server is fitting the weights…</p>}
      <ErrorNotice error={error} />
      <StatusNotice message={status} />
    </form>
  );
}

function NewModel({ base, stages, models, onCreated }: { base: string; stages: Stage[]; models: ModelSpec[]; onCreated: () => void }) {
  const [form, setForm] = useState<NewModelForm>(newModelForm);
  const [otherVersion, setOtherVersion] = useState(false);
  const [serverProblems, setServerProblems] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [checked, setChecked] = useState(false);
  const prefix = useId();
  const stage = stages.find((candidate) => String(candidate.id) === form.stage) ?? stages[0];
  const chosenStage = form.stage || String(stage.id);
  const { schema, error: schemaError } = useStageSchema(stage);
  const taken = models.filter((model) => model.stage === stage.id).map((model) => model.field);
  const fields = learnableFields(schema, taken);
  const chosen = fields.find((entry) => entry.field.key === form.field) ?? fields[0] ?? null;
  const task = chosen?.task ?? null;
  const current = { ...form, stage: chosenStage, field: chosen?.field.key ?? "" };
  const { body, problems } = newModelBody(current, task);
  const shownProblems = { ...(checked ? problems : {}), ...serverProblems };
  const versions = useMemo(() => models.flatMap((model) => model.versions.map((version) => ({ model, version })))
    .sort((a, b) => b.version.id - a.version.id), [models]);
  const id = (key: string) => `${prefix}-${key}`;
  const set = (change: Partial<NewModelForm>) => {
    setForm({ ...current, ...change });
    setServerProblems((previous) => {
      const rest = { ...previous };
      for (const key of Object.keys(change)) delete rest[key === "startFrom" ? "start_from" : key];
      return rest;
    });
  };

  const create = async () => {
    setChecked(true);
    if (Object.keys(problems).length) {
      setError("Fix the settings marked first.");
      return;
    }
    setSaving(true);
    setError(null);
    setServerProblems({});
    try {
      const model = await api<ModelSpec>(`${base}/models/`, { body });
      setStatus(`Added ${model.name}. Train it now, or it trains once ${model.retrain_every} new consensus labels arrive.`);
      setForm(newModelForm());
      setOtherVersion(false);
      setChecked(false);
      onCreated();
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 400) {
        const named = problemsOf(failure.body);
        setServerProblems(named);
        const known = new Set(["stage", "field", "name", "size", "strategy", "batch_size", "retrain_every", "retrain_hours",
          "epochs", "train_layers", "start_from"]);
        const other = Object.entries(named).filter(([key]) => !known.has(key)).map(([key, message]) => `${key}: ${message}`);
        setError(other.length ? other.join("; ") : "The server refused the model; see the fields marked.");
      } else {
        setError(messageOf(failure));
      }
    } finally {
      setSaving(false);
    }
  };

  const strategies = task ? strategiesFor(task) : [];
  const strategyHelp = form.strategy ? strategyOf(form.strategy)?.help
    : task ? `The default: ${strategyOf(defaultStrategy(task))?.label}. ${strategyOf(defaultStrategy(task))?.help}` : "";
  return (
    <Section title="Add a model" id="new-model">
      <form onSubmit={(event) => { event.preventDefault(); void create(); }}>
        <div className="field-grid">
          <SettingRow id={id("stage")} label="Label stage" help="The stage whose consensus labels the model learns from and whose queue it orders."
            problem={shownProblems.stage}>
            <select id={id("stage")} value={chosenStage} aria-describedby={`${id("stage")}-help`}
              onChange={(event) => set({ stage: event.target.value, field: "", strategy: "" })}>
              {stages.map((candidate) => <option key={candidate.id} value={candidate.id}>{stageLabel(candidate)}</option>)}
            </select>
          </SettingRow>
          <SettingRow id={id("field")} label="Field" problem={shownProblems.field ?? schemaError ?? undefined}
            help={chosen ? `${TASK_HELP[chosen.task]}.` : "A single choice or yes/no (classification), a number (regression), or a contour, freehand or brush shape (segmentation)."}>
            <select id={id("field")} value={chosen?.field.key ?? ""} aria-describedby={`${id("field")}-help`} disabled={fields.length === 0}
              onChange={(event) => set({ field: event.target.value, strategy: "" })}>
              {fields.length === 0 && <option value="">{schema ? "no field left that a model can learn" : "loading the schema…"}</option>}
              {fields.map(({ field, task: fieldTask }) => (
                <option key={field.key} value={field.key}>{field.label ?? field.key} ({fieldTask})</option>
              ))}
            </select>
          </SettingRow>
          <SettingRow id={id("name")} label="Name (optional)" help="Defaults to “stage: field”." problem={shownProblems.name}>
            <input id={id("name")} value={form.name} aria-describedby={`${id("name")}-help`} onChange={(event) => set({ name: event.target.value })} />
          </SettingRow>
          <SettingRow id={id("size")} label={SIZE_SETTING.label} help={SIZE_SETTING.help} problem={shownProblems.size}>
            <input id={id("size")} inputMode="numeric" value={form.size} aria-describedby={`${id("size")}-help`}
              aria-invalid={Boolean(shownProblems.size)} onChange={(event) => set({ size: event.target.value })} />
          </SettingRow>
          <SettingRow id={id("strategy")} label="Strategy" help={strategyHelp ?? ""} problem={shownProblems.strategy}>
            <select id={id("strategy")} value={form.strategy} aria-describedby={`${id("strategy")}-help`}
              onChange={(event) => set({ strategy: event.target.value })}>
              <option value="">default{task ? ` (${strategyOf(defaultStrategy(task))?.label})` : ""}</option>
              {strategies.map((strategy) => <option key={strategy.value} value={strategy.value}>{strategy.label}</option>)}
            </select>
          </SettingRow>
          <TrainingSettingRows form={form} id={id} problems={shownProblems} set={set}
            onBlur={(setting) => checkNumber(form[setting.key], setting).problem && setChecked(true)} />
          <SettingRow id={id("start")} label="Start from" problem={shownProblems.start_from}
            help="Weights to start from (transfer learning): a version of a model here, or of another project you administer.">
            <span className="start-from">
              <select id={id("start")} aria-describedby={`${id("start")}-help`}
                value={otherVersion ? "other" : form.startFrom} onChange={(event) => {
                  const value = event.target.value;
                  setOtherVersion(value === "other");
                  set({ startFrom: value === "other" ? "" : value });
                }}>
                <option value="">nothing: random weights (or this model's own pretraining)</option>
                {versions.map(({ model, version }) => (
                  <option key={version.id} value={version.id}>{model.name} v{version.number} ({version.kind}{version.kind === "train" ? `, ${version.labels_used} labels` : ""})</option>
                ))}
                <option value="other">a version of another project (its id)…</option>
              </select>
              {otherVersion && (
                <input aria-label="Id of the model version to start from" inputMode="numeric" size={8} value={form.startFrom}
                  onChange={(event) => set({ startFrom: event.target.value })} />
              )}
            </span>
          </SettingRow>
        </div>
        {task && <StrategyGuide task={task} />}
        <div className="actions">
          <button type="submit" className="primary" disabled={saving || !chosen}>{saving ? "Adding…" : "Add model"}</button>
        </div>
        <ErrorNotice error={error} />
        <StatusNotice message={status} />
      </form>
    </Section>
  );
}
