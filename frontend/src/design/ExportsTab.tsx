// Exports: the project's versioned snapshots of its decided items, with their files to download,
// and a button to build the next version (built in the background; followed until ready).
import { useState } from "react";
import { api } from "../api";
import { useApi, useInterval } from "../common/hooks";
import type { Export } from "./apiTypes";
import { ErrorNotice, formatDate, Loading, messageOf, Section, StatusNotice, useDesign } from "./parts";

const BUILDING = new Set(["queued", "building"]);

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

export default function ExportsTab() {
  const { slug } = useDesign();
  const base = `/api/projects/${slug}/exports/`;
  const exports = useApi<Export[]>(base);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const building = (exports.data ?? []).some((item) => BUILDING.has(item.status));
  useInterval(exports.reload, 2000, building);

  const build = async () => {
    setBusy(true);
    setError(null);
    try {
      const made = await api<Export>(base, { body: {} });
      setStatus(`Version ${made.version} requested; it is built in the background.`);
      exports.reload();
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Section title="Exports" id="exports" actions={
      <button type="button" className="primary" onClick={build} disabled={busy}>{busy ? "Requesting…" : "Build a new export"}</button>}>
      <p className="muted">An export is an immutable version of the items decided so far: CSV and JSON with hard and soft labels
        and provenance, DICOM SEG for masks and contours, DICOM SR for measurements, each file with its sha256.</p>
      <ErrorNotice error={exports.error ?? error} />
      <StatusNotice message={status} />
      {!exports.data && !exports.error && <Loading what="the exports" />}
      {exports.data && exports.data.length === 0 && <p className="muted">No export yet.</p>}
      {exports.data && exports.data.length > 0 && (
        <table>
          <thead>
            <tr><th scope="col">Version</th><th scope="col">Status</th><th scope="col">Items</th><th scope="col">Requested</th><th scope="col">Files</th></tr>
          </thead>
          <tbody>
            {exports.data.map((item) => (
              <tr key={item.id}>
                <td>{item.version}</td>
                <td>
                  <span className={`job-status ${item.status}`}>{item.status}</span>
                  {item.error && <p className="problem" role="alert">{item.error}</p>}
                </td>
                <td>{item.status === "ready" ? `${item.item_count} (${item.accepted_count} accepted, ${item.rejected_count} rejected)` : "—"}</td>
                <td>{item.requested_by ?? "—"}<br /><span className="muted">{formatDate(item.requested_at)}</span></td>
                <td>
                  {item.files.length === 0 ? <span className="muted">{BUILDING.has(item.status) ? "building…" : "none"}</span> : (
                    <ul className="file-list">
                      {item.files.map((file) => (
                        <li key={file.name}>
                          <a href={file.url} download={file.name}>{file.name}</a>{" "}
                          <span className="muted">{file.kind} · {formatSize(file.size)}</span>{" "}
                          <code className="sha" title={`sha256 ${file.sha256}`}>{file.sha256.slice(0, 12)}…</code>
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}
