// A project's dashboard for its admins: items by status, per stage progress, answers per hour
// over the last day and the consensus confidence; agreement figures of each label stage; every
// worker's reliability (with unblock); and each model's learning curve: its validation figure against
// the consensus labels it was trained on.
import { useState } from "react";
import { Link, useParams } from "react-router";
import { api } from "../api";
import { useApi, useInterval, type Loaded } from "../common/hooks";
import type { Stage } from "../types";
import type {
  AgreementFigure, ConsensusRunSummary, FieldAgreement, MeasurementAgreement, ModelSpec, Project, ProjectDashboard,
  StageAgreement, StageDashboard, WorkerQuality,
} from "./apiTypes";
import { BarChart, BlandAltmanPlot, LineChart } from "./charts";
import { binLabels, hourLabels, niceMax, percent, ticks } from "./chartGeometry";
import { curveSummary, formatMetric, learningCurve } from "./learningCurve";
import { ErrorNotice, formatDate, Loading, messageOf, ProgressBar, Section, stageLabel, StatusNotice } from "./parts";
import "./design.css";

const REFRESH_MS = 30_000;

export default function Dashboard() {
  const { slug = "" } = useParams();
  const base = `/api/projects/${slug}`;
  const project = useApi<Project>(`${base}/`);
  const dashboard = useApi<ProjectDashboard>(`${base}/dashboard/`);
  const stages = useApi<Stage[]>(`${base}/stages/`);
  const models = useApi<ModelSpec[]>(`${base}/models/`);
  const [auto, setAuto] = useState(true);
  const refresh = () => {
    dashboard.reload();
    models.reload();
  };
  useInterval(refresh, REFRESH_MS, auto && !dashboard.error);

  const name = project.data?.name ?? slug;
  return (
    <main className="page design dashboard">
      <div className="design-title">
        <h1>{name} <span className="muted">· dashboard</span></h1>
        <div className="actions">
          <label className="inline">
            <input type="checkbox" checked={auto} onChange={(event) => setAuto(event.target.checked)} /> Refresh every 30 s
          </label>
          <button type="button" onClick={refresh} disabled={dashboard.loading}>{dashboard.loading ? "Refreshing…" : "Refresh now"}</button>
          <Link className="button" to={`/projects/${slug}/design`}>Design</Link>
        </div>
      </div>
      <ErrorNotice error={dashboard.error ?? project.error} />
      {!dashboard.data && !dashboard.error && <Loading what="the dashboard" />}
      {dashboard.data && (
        <>
          <Items data={dashboard.data} />
          <p className="muted">As of {formatDate(dashboard.data.generated_at)}.</p>
          {dashboard.data.stages.length === 0 ? (
            <p className="notice">No stages yet: <Link to={`/projects/${slug}/design/pipeline`}>design the pipeline</Link>.</p>
          ) : (
            <div className="stage-dashboards">
              {dashboard.data.stages.map((stage) => <StagePanel key={stage.id} stage={stage} />)}
            </div>
          )}
          {dashboard.data.stages.filter((stage) => stage.kind === "label").map((stage) => (
            <Agreement key={stage.id} base={base} stage={stage} />
          ))}
        </>
      )}
      {!dashboard.error && (
        <>
          <Workers base={base} stages={stages.data ?? []} />
          <LearningCurves models={models} stages={stages.data ?? []} />
        </>
      )}
    </main>
  );
}

function Items({ data }: { data: ProjectDashboard }) {
  const { items } = data;
  const decided = items.accepted + items.rejected;
  return (
    <Section title="Items" id="dashboard-items">
      <div className="figures">
        <Figure label="items" value={items.total} />
        <Figure label="accepted" value={items.accepted} />
        <Figure label="rejected" value={items.rejected} />
        <Figure label="in progress" value={items.in_progress} />
        <Figure label="decided" value={percent(decided, items.total)} />
      </div>
      <div className="stacked-bar" role="img" aria-label={`${items.accepted} accepted, ${items.rejected} rejected, ${items.in_progress} in progress of ${items.total} items`}>
        {items.total > 0 && (
          <>
            <span className="accepted" style={{ width: `${(items.accepted / items.total) * 100}%` }} />
            <span className="rejected" style={{ width: `${(items.rejected / items.total) * 100}%` }} />
          </>
        )}
      </div>
      <p className="legend"><span className="swatch accepted" /> accepted <span className="swatch rejected" /> rejected <span className="swatch open" /> in progress</p>
    </Section>
  );
}

function Figure({ label, value }: { label: string; value: number | string }) {
  return <div className="figure"><strong>{value}</strong><span>{label}</span></div>;
}

function StagePanel({ stage }: { stage: StageDashboard }) {
  const id = `dashboard-stage-${stage.id}`;
  const consensusCount = stage.confidence_histogram.reduce((total, count) => total + count, 0);
  const busiest = Math.max(...stage.throughput);
  return (
    <article className="card stage-dashboard" aria-labelledby={id}>
      <h2 id={id}>{stageLabel(stage)} <span className="muted">({stage.kind}, {stage.audience})</span></h2>
      <p>{stage.tasks.complete} of {stage.tasks.total} item{stage.tasks.total === 1 ? "" : "s"} complete · {stage.tasks.open} open</p>
      <ProgressBar value={stage.tasks.complete} max={stage.tasks.total} label={`${stage.name}: ${stage.tasks.complete} of ${stage.tasks.total} complete`} />
      <p>{stage.answers} answer{stage.answers === 1 ? "" : "s"} in all, {stage.answers_last_24h} in the last 24 hours</p>
      <BarChart title={`Answers per hour, last 24 hours: ${stage.name}`} values={stage.throughput} labels={hourLabels(stage.throughput.length)}
        sparseLabels yLabel="answers"
        summary={`${stage.answers_last_24h} answers in the last 24 hours; at most ${busiest} in one hour; ${stage.throughput[stage.throughput.length - 1]} in the last hour.`} />
      <h3>Consensus confidence</h3>
      {consensusCount === 0 ? <p className="muted">No consensus yet.</p> : (
        <>
          <p>{consensusCount} consensus{consensusCount === 1 ? "" : "es"}, mean confidence {stage.mean_confidence?.toFixed(2) ?? "—"}</p>
          <BarChart title={`Consensus confidence: ${stage.name}`} values={stage.confidence_histogram} labels={binLabels(stage.confidence_histogram.length)}
            yLabel="tasks" color="var(--ok)" xTicks={[{ at: 0, label: "0" }, { at: 0.5, label: "0.5" }, { at: 1, label: "1" }]}
            summary={`${stage.confidence_histogram[stage.confidence_histogram.length - 1]} of ${consensusCount} at 0.9 or above; `
              + `${stage.confidence_histogram.slice(0, 5).reduce((total, count) => total + count, 0)} below 0.5.`} />
        </>
      )}
      {stage.kind === "label" && stage.consensus_method && <ConsensusMethodPanel stage={stage} />}
    </article>
  );
}

const SCORE_COLUMNS: [string, string][] = [
  ["known_items", "known items"], ["known_accuracy", "known items right (cross-validated)"],
  ["known_log_likelihood", "log-probability of the known label"],
];

function score(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return Number.isInteger(value) ? String(value) : value.toFixed(3);
}

/** Which method the last run used per field and, where the stage chooses automatically, why. */
function ConsensusMethodPanel({ stage }: { stage: StageDashboard }) {
  const run: ConsensusRunSummary | null = stage.last_run ?? null;
  const proposals = stage.proposals ?? { in_review: 0, unrouted: 0 };
  return (
    <section aria-label={`Consensus method: ${stage.name}`} data-testid={`consensus-method-${stage.id}`}>
      <h3>Consensus method</h3>
      <p>Set to <strong>{stage.consensus_method}</strong>
        {run ? <>; last run #{run.id}{run.finished_at ? ` (${formatDate(run.finished_at)})` : ""}: {run.method.replace(/_/g, " ")}</>
          : <span className="muted">; no run yet</span>}</p>
      {(proposals.in_review > 0 || proposals.unrouted > 0) && (
        <p className={proposals.unrouted > 0 ? "notice bad" : "notice"} role="status">
          {proposals.in_review} accepted result{proposals.in_review === 1 ? "" : "s"} a run would change, waiting for expert review
          {proposals.unrouted > 0 && `; ${proposals.unrouted} with no review stage to go to: kept as accepted, decide by hand`}
        </p>
      )}
      {run && Object.entries(run.fields).map(([field, selection]) => (
        <div key={field}>
          <p><strong>{field}</strong>: {selection.method}{selection.requested === "auto" ? " (chosen automatically)" : ""}
            {selection.reason && <span className="muted"> — {selection.reason}</span>}</p>
          {selection.scores && Object.values(selection.scores).some((scores) => (scores.known_items ?? 0) > 0) && (
            <table className="compact">
              <thead><tr><th>Method</th>{SCORE_COLUMNS.map(([, label]) => <th key={label}>{label}</th>)}</tr></thead>
              <tbody>
                {Object.entries(selection.scores).map(([method, scores]) => (
                  <tr key={method} className={method === selection.method ? "chosen" : undefined}>
                    <th scope="row">{method}{method === selection.method ? " ✓" : ""}</th>
                    {SCORE_COLUMNS.map(([key]) => <td key={key}>{score(scores[key])}</td>)}
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      ))}
    </section>
  );
}

function figure(value: AgreementFigure | undefined): string {
  if (!value || (value.value === null && value.items === 0)) return "—";
  return value.value === null ? "undefined" : value.value.toFixed(2);
}

function Agreement({ base, stage }: { base: string; stage: StageDashboard }) {
  const agreement = useApi<StageAgreement>(`${base}/stages/${stage.id}/agreement/`);
  const id = `agreement-${stage.id}`;
  const fields = Object.entries(agreement.data?.fields ?? {});
  return (
    <Section title={`Agreement: ${stageLabel(stage)}`} id={id}
      actions={<button type="button" onClick={agreement.reload}>Recompute <span className="sr-only">agreement of {stage.name}</span></button>}>
      <ErrorNotice error={agreement.error} />
      {!agreement.data && !agreement.error && <Loading what="the agreement figures" />}
      {agreement.data && fields.length === 0 && <p className="muted">No field of this stage can be compared yet.</p>}
      {agreement.data && fields.length > 0 && (
        <>
          <p className="muted">Over {agreement.data.items} item{agreement.data.items === 1 ? "" : "s"} (gold included). Kappa and
            alpha: 1 is perfect agreement, 0 what chance gives.</p>
          <table>
            <thead>
              <tr><th scope="col">Field</th><th scope="col">Kind</th><th scope="col">Answers</th><th scope="col">Fleiss' κ</th>
                <th scope="col">Krippendorff's α</th><th scope="col">Mean Dice</th><th scope="col">Crowd</th>
                <th scope="col">Crowd and experts</th></tr>
            </thead>
            <tbody>
              {fields.map(([key, field]) => <AgreementRow key={key} fieldKey={key} field={field} />)}
            </tbody>
          </table>
          {fields.map(([key, field]) => <BlandAltmanPlots key={key} fieldKey={key} field={field} />)}
        </>
      )}
    </Section>
  );
}

function AgreementRow({ fieldKey, field }: { fieldKey: string; field: FieldAgreement }) {
  return (
    <tr>
      <td><code>{fieldKey}</code></td>
      <td>{field.kind}</td>
      <td>{field.answers}</td>
      <td>{figure(field.fleiss_kappa)}</td>
      <td>{figure(field.krippendorff_alpha)}</td>
      <td>{field.kind === "shape" ? `${field.mean_dice?.toFixed(2) ?? "—"} (${field.pairs ?? 0} pairs)` : "—"}</td>
      <td>{crowdFigures(field)}</td>
      <td>
        {field.crowd_vs_expert?.length ? (
          <ul className="comparisons">
            {field.crowd_vs_expert.map((row) => (
              <li key={`${row.first}-${row.second}`}>
                {row.first} vs {row.second}, {row.items} item{row.items === 1 ? "" : "s"}:{" "}
                {Object.entries(row.figures).map(([name, value]) => `${name.replaceAll("_", " ")} ${value === null ? "—" : value.toFixed(2)}`).join(", ")}
              </li>
            ))}
          </ul>
        ) : <span className="muted">no expert review yet</span>}
      </td>
    </tr>
  );
}

const fixed = (value: number | null | undefined, digits = 2) => (value === null || value === undefined ? "—" : value.toFixed(digits));

/** ICC with its interval and Bland-Altman limits, as one line. */
export function measurementLine(figures: MeasurementAgreement, unit?: string | null): string {
  const suffix = unit ? ` ${unit}` : "";
  const icc = figures.icc
    ? `${figures.icc.form} ${fixed(figures.icc.value)} (95 % CI ${fixed(figures.icc.lower)} to ${fixed(figures.icc.upper)})`
    : "ICC —";
  const limits = figures.bland_altman;
  return `${icc}; bias ${fixed(limits.bias)}${suffix}, limits ${fixed(limits.lower_limit)} to ${fixed(limits.upper_limit)}${suffix}`;
}

/** What the crowd's answers say of each other, by kind: ICC and Bland-Altman, Hausdorff, landmark distance. */
function crowdFigures(field: FieldAgreement): string {
  if (field.crowd) return measurementLine(field.crowd, field.unit);
  if (field.hausdorff?.count) return `Hausdorff ${fixed(field.hausdorff.mean)} mean, ${fixed(field.hausdorff.max)} max ${field.hausdorff.unit ?? ""}`.trim();
  if (field.distance?.count) return `distance ${fixed(field.distance.mean)} mean, ${fixed(field.distance.max)} max ${field.distance.unit ?? ""}`.trim();
  return "—";
}

/** Bland-Altman plots of a number or caliper field: crowd against crowd, crowd against experts. */
function BlandAltmanPlots({ fieldKey, field }: { fieldKey: string; field: FieldAgreement }) {
  const candidates: [string, MeasurementAgreement | undefined][] = [
    ["crowd (first vs second reading)", field.crowd], ["crowd median vs experts", field.expert_agreement]];
  const shown = candidates.filter((entry): entry is [string, MeasurementAgreement] => Boolean(entry[1]?.plot.length));
  if (!shown.length) return null;
  return (
    <div className="bland-altman-plots">
      {shown.map(([what, figures]) => (
        <div key={what}>
          <BlandAltmanPlot title={`Bland-Altman, ${fieldKey}: ${what}`} points={figures.plot} bias={figures.bland_altman.bias}
            lowerLimit={figures.bland_altman.lower_limit} upperLimit={figures.bland_altman.upper_limit} unit={field.unit} />
          <p className="muted">{measurementLine(figures, field.unit)}</p>
        </div>
      ))}
    </div>
  );
}

function Workers({ base, stages }: { base: string; stages: Stage[] }) {
  const workers = useApi<WorkerQuality[]>(`${base}/workers/`);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [onlyBlocked, setOnlyBlocked] = useState(false);
  const stageName = (id: number) => {
    const stage = stages.find((candidate) => candidate.id === id);
    return stage ? stageLabel(stage) : `stage #${id}`;
  };
  const unblock = async (row: WorkerQuality) => {
    setError(null);
    const passQualification = row.qualification === "failed";
    try {
      await api(`${base}/stages/${row.stage}/workers/${encodeURIComponent(row.worker)}/unblock/`,
        { body: { pass_qualification: passQualification } });
      setStatus(`${row.worker} may work in ${stageName(row.stage)} again${passQualification ? " (qualification marked passed)" : ""}.`);
      workers.reload();
    } catch (failure) {
      setError(messageOf(failure));
    }
  };
  const rows = (workers.data ?? []).filter((row) => !onlyBlocked || row.blocked_reason);
  const blocked = (workers.data ?? []).filter((row) => row.blocked_reason).length;
  return (
    <Section title="Workers" id="dashboard-workers" actions={
      <label className="inline"><input type="checkbox" checked={onlyBlocked} onChange={(event) => setOnlyBlocked(event.target.checked)} /> Only blocked ({blocked})</label>}>
      <ErrorNotice error={workers.error ?? error} />
      <StatusNotice message={status} />
      {!workers.data && !workers.error && <Loading what="the workers" />}
      {workers.data && workers.data.length === 0 && (
        <p className="muted">No worker has a record yet: records start with a worker's first gold or qualification answer.</p>
      )}
      {rows.length > 0 && (
        <div className="table-scroll">
          <table className="workers-table">
            <thead>
              <tr><th scope="col">Worker</th><th scope="col">Stage</th><th scope="col">Qualification</th><th scope="col">Gold</th>
                <th scope="col">Reliability</th><th scope="col">Status</th></tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={`${row.worker}-${row.stage}`} className={row.blocked_reason ? "blocked" : ""}>
                  <td>{row.worker}</td>
                  <td>{stageName(row.stage)}</td>
                  <td>{row.qualification.replace("_", " ")}{row.qualification_answered ? ` (${row.qualification_correct} of ${row.qualification_answered} right)` : ""}</td>
                  <td>{row.gold_answered ? `${row.gold_correct.toFixed(1)} of ${row.gold_answered} right` : "none yet"}</td>
                  <td>
                    <span className="reliability">
                      <ProgressBar value={Math.round(row.reliability * 100)} max={100} label={`Reliability of ${row.worker}`} />
                      {row.reliability.toFixed(2)}
                    </span>
                  </td>
                  <td>
                    {row.blocked_reason ? (
                      <>
                        <span className="problem">Blocked: {row.blocked_reason}</span>{" "}
                        <button type="button" onClick={() => unblock(row)}>Unblock <span className="sr-only">{row.worker} in {stageName(row.stage)}</span></button>
                      </>
                    ) : <span className="ok">working</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

function LearningCurves({ models, stages }: { models: Loaded<ModelSpec[]>; stages: Stage[] }) {
  const { slug = "" } = useParams();
  const list = models.data ?? [];
  return (
    <Section title={list.length > 1 ? "Model learning curves" : "Model learning curve"} id="dashboard-model">
      <ErrorNotice error={models.error} />
      {!models.data && !models.error && <Loading what="the models" />}
      {models.data && list.length === 0 && (
        <>
          <figure className="chart empty-chart">
            <svg viewBox="0 0 360 120" width="100%" role="img" aria-labelledby="learning-curve-title">
              <title id="learning-curve-title">Model learning curve: no model trained yet</title>
              <line x1="36" y1="100" x2="352" y2="100" className="chart-baseline" />
              <line x1="36" y1="8" x2="36" y2="100" className="chart-baseline" />
              <text x="194" y="56" textAnchor="middle" className="chart-empty-text">No model has been trained yet</text>
              <text x="194" y="116" textAnchor="middle" className="chart-label">consensus labels used for training</text>
            </svg>
          </figure>
          <p className="muted">No model yet. <Link to={`/projects/${slug}/design/models`}>Add one</Link> for a field of a label
            stage: retrained on the stage's consensus labels as they arrive, it shows its validation score against the number of
            labels here, and puts first in the queue what it would learn most from.</p>
        </>
      )}
      {list.map((model) => <ModelCurve key={model.id} model={model} stage={stages.find((stage) => stage.id === model.stage)} />)}
    </Section>
  );
}

const BOUNDED_TICKS = [0, 0.25, 0.5, 0.75, 1];

function ModelCurve({ model, stage }: { model: ModelSpec; stage: Stage | undefined }) {
  const curve = learningCurve(model);
  const { metric, points } = curve;
  const summary = curveSummary(curve);
  const id = `model-curve-${model.id}`;
  const xMax = niceMax(Math.max(1, ...points.map((point) => point.labels)));
  const yMax = metric.bounded ? 1 : niceMax(Math.max(0, ...points.map((point) => point.value)));
  const trained = model.versions.filter((version) => version.kind === "train").sort((a, b) => a.number - b.number);
  const classification = model.task === "classification";
  const columns = ["Version", "Labels used", `Validation ${metric.name}`, ...(classification ? ["AUC"] : []), "Held-out expert labels"];
  const rows = trained.map((version) => {
    const point = points.find((candidate) => candidate.version === version.number);
    return [version.number, version.labels_used, point ? formatMetric(metric, point.value) : "none (no held-out labels)",
      ...(classification ? [point?.auc != null ? point.auc.toFixed(3) : "—"] : []), version.metrics.n ?? 0];
  });
  return (
    <article className="model-curve" aria-labelledby={id}>
      <h3 id={id}>{model.name} <span className="muted">({model.task} of “{model.field}”{stage ? `, ${stageLabel(stage)}` : ""})</span></h3>
      {curve.trained === 0 ? (
        <p className="muted">Not trained yet: it trains after {model.retrain_every} new consensus label{model.retrain_every === 1 ? "" : "s"},
          or when an admin starts a run in the Models tab.</p>
      ) : (
        <>
          <p>{summary}{metric.higherIsBetter ? "" : " Lower is better."}</p>
          {points.length > 0 ? (
            <LineChart title={`Learning curve of ${model.name}: validation ${metric.name} against consensus labels used`}
              summary={summary} points={points.map((point) => ({ x: point.labels, y: point.value,
                label: `Version ${point.version}: ${metric.name} ${formatMetric(metric, point.value)} with ${point.labels} labels` }))}
              xMax={xMax} yMax={yMax} xTicks={ticks(xMax, 4)} yTicks={metric.bounded ? BOUNDED_TICKS : ticks(yMax, 4)}
              xLabel="consensus labels used for training" yLabel={metric.name}
              formatY={(value) => (metric.bounded ? value.toFixed(2) : String(value))}
              columns={columns} rows={rows} />
          ) : (
            <>
              <p className="muted">The curve starts once expert labels (gold items, review decisions) exist to hold out: each version
                is measured on those it did not train on.</p>
              <table className="compact curve-table">
                <caption className="sr-only">Versions of {model.name}</caption>
                <thead><tr>{columns.map((column) => <th key={column} scope="col">{column}</th>)}</tr></thead>
                <tbody>{rows.map((row, index) => <tr key={index}>{row.map((cell, column) => <td key={column}>{cell}</td>)}</tr>)}</tbody>
              </table>
            </>
          )}
        </>
      )}
    </article>
  );
}
