// A project's dashboard for its admins: items by status, per stage progress, answers per hour
// over the last day and the consensus confidence; agreement figures of each label stage; every
// worker's reliability (with unblock); and the model's learning curve, once there is a model.
import { useState } from "react";
import { Link, useParams } from "react-router";
import { api } from "../api";
import { useApi, useInterval } from "../common/hooks";
import type { Stage } from "../types";
import type { AgreementFigure, FieldAgreement, Project, ProjectDashboard, StageAgreement, StageDashboard, WorkerQuality } from "./apiTypes";
import { BarChart } from "./charts";
import { binLabels, hourLabels, percent } from "./chartGeometry";
import { ErrorNotice, formatDate, Loading, messageOf, ProgressBar, Section, stageLabel, StatusNotice } from "./parts";
import "./design.css";

const REFRESH_MS = 30_000;

export default function Dashboard() {
  const { slug = "" } = useParams();
  const base = `/api/projects/${slug}`;
  const project = useApi<Project>(`${base}/`);
  const dashboard = useApi<ProjectDashboard>(`${base}/dashboard/`);
  const stages = useApi<Stage[]>(`${base}/stages/`);
  const [auto, setAuto] = useState(true);
  useInterval(dashboard.reload, REFRESH_MS, auto && !dashboard.error);

  const name = project.data?.name ?? slug;
  return (
    <main className="page design dashboard">
      <div className="design-title">
        <h1>{name} <span className="muted">· dashboard</span></h1>
        <div className="actions">
          <label className="inline">
            <input type="checkbox" checked={auto} onChange={(event) => setAuto(event.target.checked)} /> Refresh every 30 s
          </label>
          <button type="button" onClick={dashboard.reload} disabled={dashboard.loading}>{dashboard.loading ? "Refreshing…" : "Refresh now"}</button>
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
          <LearningCurve />
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
    </article>
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
                <th scope="col">Krippendorff's α</th><th scope="col">Mean Dice</th><th scope="col">Crowd and experts</th></tr>
            </thead>
            <tbody>
              {fields.map(([key, field]) => <AgreementRow key={key} fieldKey={key} field={field} />)}
            </tbody>
          </table>
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

function LearningCurve() {
  return (
    <Section title="Model learning curve" id="dashboard-model">
      <figure className="chart empty-chart">
        <svg viewBox="0 0 360 120" width="100%" role="img" aria-labelledby="learning-curve-title">
          <title id="learning-curve-title">Model learning curve: no model trained yet</title>
          <line x1="36" y1="100" x2="352" y2="100" className="chart-baseline" />
          <line x1="36" y1="8" x2="36" y2="100" className="chart-baseline" />
          <text x="194" y="56" textAnchor="middle" className="chart-empty-text">No model has been trained yet</text>
          <text x="194" y="116" textAnchor="middle" className="chart-label">consensus labels used for training</text>
        </svg>
      </figure>
      <p className="muted">Active learning comes in a later release: a model retrained on this project's consensus labels will
        show its validation score against the number of labels here, and pick what gets labeled next.</p>
    </Section>
  );
}
