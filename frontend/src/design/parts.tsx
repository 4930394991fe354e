// Small pieces the design screens share: the project and its pipeline as every tab sees them,
// error and progress display, and a series list read from the platform's QIDO-RS.
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { api, ApiError } from "../api";
import { useApi, type Loaded } from "../common/hooks";
import type { Schema, Stage } from "../types";
import type { Project, SchemaVersion } from "./apiTypes";
import { seriesFromQido, type SeriesRow } from "./dicom";

export interface DesignContextValue {
  slug: string;
  project: Project;
  stages: Loaded<Stage[]>;
}

export const DesignContext = createContext<DesignContextValue | null>(null);

export function useDesign(): DesignContextValue {
  const value = useContext(DesignContext);
  if (!value) throw new Error("useDesign outside ProjectDesign");
  return value;
}

/** The message of anything thrown by api() or upload(). */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

export function ErrorNotice({ error }: { error: string | null | undefined }) {
  if (!error) return null;
  return <p className="notice bad" role="alert">{error}</p>;
}

export function StatusNotice({ message }: { message: string | null | undefined }) {
  return <p className="design-status" role="status" aria-live="polite">{message ?? ""}</p>;
}

/** A labelled bar from 0 to `max`. */
export function ProgressBar({ value, max, label }: { value: number; max: number; label: string }) {
  const share = max > 0 ? Math.min(1, Math.max(0, value / max)) : 0;
  return (
    <div className="bar" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={max || 1}
      aria-valuenow={Math.min(value, max || 1)} aria-valuetext={max > 0 ? `${value} of ${max}` : "nothing yet"}>
      <span style={{ width: `${share * 100}%` }} />
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return <p className="muted" role="status">Loading {what}…</p>;
}

/** Every available series of the project (QIDO-RS, up to the server's limit of 1000). */
export function useSeries(slug: string, version = 0): { series: SeriesRow[]; error: string | null; loading: boolean } {
  const [state, setState] = useState<{ series: SeriesRow[]; error: string | null; loading: boolean }>(
    { series: [], error: null, loading: true });
  useEffect(() => {
    const controller = new AbortController();
    setState((previous) => ({ ...previous, loading: true }));
    api<unknown>(`/dicomweb/${slug}/series?limit=1000`, { signal: controller.signal }).then(
      (body) => setState({ series: seriesFromQido(body), error: null, loading: false }),
      (error) => {
        if (!controller.signal.aborted) setState({ series: [], error: messageOf(error), loading: false });
      });
    return () => controller.abort();
  }, [slug, version]);
  return state;
}

/** The schema definition a label stage's answers follow (its schema at the stage's version). */
export function useStageSchema(stage: Pick<Stage, "schema" | "schema_version"> | null): { schema: Schema | null; error: string | null } {
  const { slug } = useDesign();
  const versions = useApi<SchemaVersion[]>(stage?.schema ? `/api/projects/${slug}/schemas/${stage.schema}/versions/` : null);
  const version = versions.data?.find((candidate) => candidate.version === stage?.schema_version) ?? null;
  return {
    schema: version?.definition ?? null,
    error: versions.error ?? (stage && versions.data && !version
      ? `Version ${stage.schema_version} of ${stage.schema} was not found.` : null),
  };
}

/** A section of a tab with its heading. */
export function Section({ title, id, children, actions }: { title: string; id: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="card design-section" aria-labelledby={id}>
      <div className="section-head">
        <h2 id={id}>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

export function formatDate(value: string | null | undefined): string {
  if (!value) return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toLocaleString();
}

export function stageLabel(stage: Pick<Stage, "position" | "name">): string {
  return `${stage.position}. ${stage.name}`;
}
