// Data: import studies (upload with progress, a folder on the server, a DICOMweb server), follow
// the import jobs while they run, and queue series as items of a label stage.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, upload } from "../api";
import { useApi, useInterval } from "../common/hooks";
import type { DicomWebSource, ImportJob, StudySummary } from "./apiTypes";
import { describeSeries, shortUid } from "./dicom";
import { ErrorNotice, formatDate, Loading, messageOf, ProgressBar, Section, stageLabel, StatusNotice, useDesign, useSeries } from "./parts";

const RUNNING = new Set(["queued", "running"]);

/** "key=value" lines as a QIDO-RS query object; the lines that are not key=value. */
export function parseQuery(text: string): { query: Record<string, string>; bad: string[] } {
  const query: Record<string, string> = {};
  const bad: string[] = [];
  for (const line of text.split("\n").map((part) => part.trim()).filter(Boolean)) {
    const at = line.indexOf("=");
    if (at <= 0 || at === line.length - 1) bad.push(line);
    else query[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return { query, bad };
}

/** Non-empty lines, or words separated by commas or spaces. */
export function parseLines(text: string, separators = /[\n]+/): string[] {
  return text.split(separators).map((part) => part.trim()).filter(Boolean);
}

export default function Imports() {
  const { slug } = useDesign();
  const base = `/api/projects/${slug}`;
  const jobs = useApi<ImportJob[]>(`${base}/imports/`);
  const [live, setLive] = useState<Record<number, ImportJob>>({});
  const [dataVersion, setDataVersion] = useState(0);
  const finished = useRef(new Set<number>());

  const merged = useMemo(() => {
    const byId = new Map<number, ImportJob>((jobs.data ?? []).map((job) => [job.id, job]));
    for (const job of Object.values(live)) byId.set(job.id, job);
    return [...byId.values()].sort((a, b) => b.id - a.id);
  }, [jobs.data, live]);
  const running = merged.filter((job) => RUNNING.has(job.status));

  const track = useCallback((job: ImportJob) => setLive((current) => ({ ...current, [job.id]: job })), []);

  // While a job runs, read it every second; when one ends, the study list is read again.
  useInterval(() => {
    for (const job of running) {
      api<ImportJob>(`${base}/imports/${job.id}/`).then((fresh) => {
        track(fresh);
        if (!RUNNING.has(fresh.status) && !finished.current.has(fresh.id)) {
          finished.current.add(fresh.id);
          setDataVersion((value) => value + 1);
        }
      }, () => undefined);
    }
  }, 1000, running.length > 0);

  return (
    <div className="imports">
      <div className="grid-2">
        <UploadForm base={base} onStarted={track} />
        <div>
          <FolderForm base={base} onStarted={track} />
          <DicomWebForm base={base} onStarted={track} />
        </div>
      </div>
      <Section title="Import jobs" id="import-jobs" actions={<button type="button" onClick={jobs.reload}>Refresh</button>}>
        <ErrorNotice error={jobs.error} />
        {!jobs.data && !jobs.error && <Loading what="the import jobs" />}
        {merged.length === 0 && jobs.data && <p className="muted">No imports yet.</p>}
        <ul className="job-list">
          {merged.map((job) => <li key={job.id}><JobRow job={job} /></li>)}
        </ul>
      </Section>
      <QueueSeries slug={slug} base={base} version={dataVersion} />
    </div>
  );
}

function JobRow({ job }: { job: ImportJob }) {
  const where = job.kind === "folder" ? (job.parameters.paths as string[] | undefined)?.join(", ")
    : job.kind === "dicomweb" ? String(job.parameters.url ?? `source #${job.parameters.source_id ?? "?"}`) : "";
  return (
    <article className="job" aria-label={`Import ${job.id}`}>
      <div className="job-head">
        <strong>#{job.id} {job.kind}</strong> <span className="muted">{where}</span>
        <span className={`job-status ${job.status}`}>{job.status}</span>
        <span className="muted">{formatDate(job.created_at)}{job.created_by ? ` by ${job.created_by}` : ""}</span>
      </div>
      <ProgressBar value={job.done} max={job.total} label={`Import ${job.id}: ${job.done} of ${job.total} done`} />
      <p className="job-counts">
        {job.done} of {job.total || "?"} done · {job.imported} imported · {job.duplicates} duplicate{job.duplicates === 1 ? "" : "s"} ·
        {" "}{job.refused} refused · {job.quarantined} quarantined (burned-in text, admins only)
      </p>
      {job.failure_reason && <p className="problem" role="alert">Failed: {job.failure_reason}</p>}
      {job.problems.length > 0 && (
        <details>
          <summary>{job.problems.length} problem{job.problems.length === 1 ? "" : "s"}</summary>
          <ul className="problems">{job.problems.slice(0, 200).map((problem, index) => (
            <li key={index}><code>{problem.reference}</code>: {problem.reason}</li>
          ))}</ul>
        </details>
      )}
    </article>
  );
}

function UploadForm({ base, onStarted }: { base: string; onStarted: (job: ImportJob) => void }) {
  const [files, setFiles] = useState<File[]>([]);
  const [share, setShare] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [problems, setProblems] = useState<{ file?: string; name?: string; reason?: string; problem?: string }[]>([]);
  const input = useRef<HTMLInputElement>(null);
  const size = files.reduce((total, file) => total + file.size, 0);
  const send = async () => {
    if (!files.length) return;
    const form = new FormData();
    for (const file of files) form.append("files", file, file.name);
    setShare(0);
    setError(null);
    setProblems([]);
    try {
      const job = await upload<ImportJob>(`${base}/imports/upload/`, form, setShare);
      onStarted(job);
      setFiles([]);
      if (input.current) input.current.value = "";
    } catch (failure) {
      setError(messageOf(failure));
      const body = (failure as { body?: { problems?: unknown } }).body;
      if (body && Array.isArray(body.problems)) setProblems(body.problems as typeof problems);
    } finally {
      setShare(null);
    }
  };
  return (
    <Section title="Upload DICOM files" id="import-upload">
      <form onSubmit={(event) => { event.preventDefault(); void send(); }}>
        <label htmlFor="upload-files">Part-10 files or zips of them</label>
        <input id="upload-files" ref={input} type="file" multiple onChange={(event) => setFiles([...(event.target.files ?? [])])} />
        <p className="muted">{files.length ? `${files.length} file${files.length === 1 ? "" : "s"}, ${(size / 2 ** 20).toFixed(1)} MiB.` : "Nothing chosen."}
          {" "}Every instance is de-identified on the way in; an upload is checked whole before anything is stored.</p>
        {share !== null && <ProgressBar value={Math.round(share * 100)} max={100} label={`Upload ${Math.round(share * 100)} % sent`} />}
        {share !== null && <p role="status">Sending… {Math.round(share * 100)} %{share >= 1 ? " (the server is checking the files)" : ""}</p>}
        <button type="submit" className="primary" disabled={!files.length || share !== null}>Upload and import</button>
        <ErrorNotice error={error} />
        {problems.length > 0 && (
          <ul className="problems" role="alert">{problems.map((problem, index) => (
            <li key={index} className="problem">{Object.values(problem).join(": ")}</li>
          ))}</ul>
        )}
      </form>
    </Section>
  );
}

function FolderForm({ base, onStarted }: { base: string; onStarted: (job: ImportJob) => void }) {
  const [paths, setPaths] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const send = async () => {
    setBusy(true);
    setError(null);
    try {
      onStarted(await api<ImportJob>(`${base}/imports/folder/`, { body: { paths: parseLines(paths) } }));
      setPaths("");
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Section title="Import a folder on the server" id="import-folder">
      <form onSubmit={(event) => { event.preventDefault(); void send(); }}>
        <label htmlFor="folder-paths">Folders or files, one per line</label>
        <textarea id="folder-paths" rows={3} value={paths} onChange={(event) => setPaths(event.target.value)}
          placeholder="/srv/dicom/echo-2024" aria-describedby="folder-help" />
        <p id="folder-help" className="muted">Only below the server's import roots (CARDIOCROWD_IMPORT_ROOTS).</p>
        <button type="submit" className="primary" disabled={busy || !parseLines(paths).length}>Import</button>
        <ErrorNotice error={error} />
      </form>
    </Section>
  );
}

function DicomWebForm({ base, onStarted }: { base: string; onStarted: (job: ImportJob) => void }) {
  const sources = useApi<DicomWebSource[]>(`${base}/dicomweb-sources/`);
  const [from, setFrom] = useState<string>("url");
  const [url, setUrl] = useState("");
  const [by, setBy] = useState<"uids" | "query">("uids");
  const [uids, setUids] = useState("");
  const [query, setQuery] = useState("ModalitiesInStudy=US");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [adding, setAdding] = useState(false);
  const parsed = parseQuery(query);
  const send = async () => {
    const body: Record<string, unknown> = from === "url" ? { url: url.trim() } : { source: from };
    if (by === "uids") body.study_uids = parseLines(uids, /[\s,]+/);
    else body.query = parsed.query;
    if (by === "query" && parsed.bad.length) {
      setError(`Write the query as key=value lines: ${parsed.bad.join("; ")}`);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onStarted(await api<ImportJob>(`${base}/imports/dicomweb/`, { body }));
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Section title="Pull from a DICOMweb server" id="import-dicomweb">
      <form onSubmit={(event) => { event.preventDefault(); void send(); }}>
        <div className="form-row">
          <label>
            Server
            <select value={from} onChange={(event) => setFrom(event.target.value)}>
              <option value="url">a URL without authentication</option>
              {sources.data?.map((source) => <option key={source.id} value={source.name}>{source.name} ({source.url})</option>)}
            </select>
          </label>
          {from === "url" && (
            <label>
              DICOMweb root URL
              <input type="url" value={url} onChange={(event) => setUrl(event.target.value)} placeholder="https://pacs.example.org/dicom-web" required />
            </label>
          )}
        </div>
        <fieldset className="inline-choice">
          <legend>Which studies</legend>
          <label className="inline"><input type="radio" name="dicomweb-by" checked={by === "uids"} onChange={() => setBy("uids")} /> By Study Instance UID</label>
          <label className="inline"><input type="radio" name="dicomweb-by" checked={by === "query"} onChange={() => setBy("query")} /> By QIDO-RS query</label>
        </fieldset>
        {by === "uids" ? (
          <>
            <label htmlFor="dicomweb-uids">Study Instance UIDs (one per line, or separated by commas)</label>
            <textarea id="dicomweb-uids" rows={3} value={uids} onChange={(event) => setUids(event.target.value)} />
          </>
        ) : (
          <>
            <label htmlFor="dicomweb-query">Query, one key=value per line</label>
            <textarea id="dicomweb-query" rows={3} value={query} onChange={(event) => setQuery(event.target.value)}
              aria-describedby="dicomweb-query-help" />
            <p id="dicomweb-query-help" className="muted">e.g. ModalitiesInStudy=US, StudyDate=20240101-20241231</p>
          </>
        )}
        <div className="actions">
          <button type="submit" className="primary" disabled={busy || (by === "uids" ? !parseLines(uids, /[\s,]+/).length : !Object.keys(parsed.query).length)}>
            Import
          </button>
          <button type="button" aria-expanded={adding} onClick={() => setAdding(!adding)}>Configure a server with authentication…</button>
        </div>
        <ErrorNotice error={sources.error ?? error} />
      </form>
      {adding && <SourceForm base={base} onAdded={() => { sources.reload(); setAdding(false); }} />}
    </Section>
  );
}

function SourceForm({ base, onAdded }: { base: string; onAdded: () => void }) {
  const [source, setSource] = useState({ name: "", url: "", auth: "basic", username: "", secret_env: "" });
  const [error, setError] = useState<string | null>(null);
  const set = (key: keyof typeof source, value: string) => setSource({ ...source, [key]: value });
  const send = async () => {
    setError(null);
    try {
      await api(`${base}/dicomweb-sources/`, { body: source });
      onAdded();
    } catch (failure) {
      setError(messageOf(failure));
    }
  };
  return (
    <form className="card nested" onSubmit={(event) => { event.preventDefault(); void send(); }} aria-label="New DICOMweb server">
      <div className="form-row">
        <label>Name<input value={source.name} onChange={(event) => set("name", event.target.value)} required /></label>
        <label>URL<input type="url" value={source.url} onChange={(event) => set("url", event.target.value)} required /></label>
        <label>
          Authentication
          <select value={source.auth} onChange={(event) => set("auth", event.target.value)}>
            <option value="none">none</option>
            <option value="basic">basic (user and password)</option>
            <option value="bearer">bearer token</option>
          </select>
        </label>
        {source.auth === "basic" && <label>User<input value={source.username} onChange={(event) => set("username", event.target.value)} /></label>}
        {source.auth !== "none" && (
          <label>
            Variable holding the {source.auth === "basic" ? "password" : "token"}
            <input value={source.secret_env} onChange={(event) => set("secret_env", event.target.value)} placeholder="PACS_PASSWORD" />
          </label>
        )}
      </div>
      <p className="muted">The secret itself never goes through the browser: name the server's environment variable that holds it.</p>
      <button type="submit" className="primary">Save server</button>
      <ErrorNotice error={error} />
    </form>
  );
}

function QueueSeries({ slug, base, version }: { slug: string; base: string; version: number }) {
  const { stages } = useDesign();
  const [reload, setReload] = useState(0);
  const studies = useApi<StudySummary[]>(`${base}/studies/`);
  const { series, error, loading } = useSeries(slug, version + reload);
  const reloadStudies = studies.reload;
  useEffect(() => {
    if (version + reload > 0) reloadStudies();
  }, [version, reload, reloadStudies]);
  const labelStages = (stages.data ?? []).filter((stage) => stage.kind === "label");
  const [stageId, setStageId] = useState<number | null>(null);
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [status, setStatus] = useState<string | null>(null);
  const [queueError, setQueueError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const target = labelStages.find((stage) => stage.id === stageId) ?? labelStages[0] ?? null;
  useEffect(() => setChosen(new Set()), [version]);

  const byStudy = useMemo(() => {
    const groups = new Map<string, typeof series>();
    for (const row of series) groups.set(row.study_uid, [...(groups.get(row.study_uid) ?? []), row]);
    return groups;
  }, [series]);
  const studyInfo = new Map((studies.data ?? []).map((study) => [study.study_uid, study]));

  const toggle = (uids: string[], on: boolean) => setChosen((current) => {
    const next = new Set(current);
    for (const uid of uids) {
      if (on) next.add(uid);
      else next.delete(uid);
    }
    return next;
  });

  const queue = async (all: boolean) => {
    if (!target) return;
    setBusy(true);
    setQueueError(null);
    setStatus(null);
    try {
      const result = await api<{ queued: number }>(`${base}/stages/${target.id}/items/`,
        { body: all ? {} : { series_uids: [...chosen] } });
      setStatus(`Queued ${result.queued} new item${result.queued === 1 ? "" : "s"} in ${stageLabel(target)}`
        + `${result.queued < (all ? series.length : chosen.size) ? " (series already there are left as they are)" : ""}.`);
    } catch (failure) {
      setQueueError(messageOf(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Section title="Studies and series: queue them for labeling" id="queue-series"
      actions={<button type="button" onClick={() => setReload((value) => value + 1)}>Refresh</button>}>
      <ErrorNotice error={studies.error ?? error} />
      {loading && <Loading what="the series" />}
      {!loading && series.length === 0 && <p className="muted">No images yet: import some above.</p>}
      {series.length > 0 && (
        <>
          <p className="muted">{byStudy.size} stud{byStudy.size === 1 ? "y" : "ies"}, {series.length} series
            {series.length >= 1000 ? " (the first 1000 are listed; “Queue every series” covers all)" : ""}. One item per series.</p>
          <div className="series-table-wrap">
            <table className="series-table">
              <thead>
                <tr>
                  <th scope="col">
                    <input type="checkbox" aria-label="Choose every series" checked={chosen.size === series.length}
                      onChange={(event) => toggle(series.map((row) => row.series_uid), event.target.checked)} />
                  </th>
                  <th scope="col">Study</th><th scope="col">Series</th>
                </tr>
              </thead>
              <tbody>
                {[...byStudy.entries()].map(([study, rows]) => rows.map((row, index) => (
                  <tr key={row.series_uid}>
                    <td>
                      <input type="checkbox" aria-label={`Choose series ${describeSeries(row)}`} checked={chosen.has(row.series_uid)}
                        onChange={(event) => toggle([row.series_uid], event.target.checked)} />
                    </td>
                    <td>{index === 0 ? (
                      <span>
                        {studyInfo.get(study)?.patient_pseudonym ?? ""} {studyInfo.get(study)?.study_date ?? ""}{" "}
                        <code title={study}>{shortUid(study)}</code>
                        {(studyInfo.get(study)?.quarantined_count ?? 0) > 0 && (
                          <span className="problem"> · {studyInfo.get(study)!.quarantined_count} quarantined</span>
                        )}
                      </span>
                    ) : null}</td>
                    <td><span title={row.series_uid}>{describeSeries(row)}</span></td>
                  </tr>
                )))}
              </tbody>
            </table>
          </div>
        </>
      )}
      {labelStages.length === 0 ? (
        <p className="notice warn">Add a label stage in the pipeline tab to queue series.</p>
      ) : (
        <div className="form-row">
          <label>
            Label stage
            <select value={target?.id ?? ""} onChange={(event) => setStageId(Number(event.target.value))}>
              {labelStages.map((stage) => <option key={stage.id} value={stage.id}>{stageLabel(stage)}</option>)}
            </select>
          </label>
          <button type="button" className="primary" disabled={busy || chosen.size === 0} onClick={() => queue(false)}>
            Queue {chosen.size} chosen series
          </button>
          <button type="button" disabled={busy || series.length === 0} onClick={() => queue(true)}>Queue every series</button>
        </div>
      )}
      <ErrorNotice error={queueError} />
      <StatusNotice message={status} />
    </Section>
  );
}
