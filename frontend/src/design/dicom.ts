// The platform's own QIDO-RS answers (DICOM JSON) as rows the design screens list, and as the
// instance references the viewer loads.
import type { InstanceRef } from "../types";

type DicomJson = Record<string, { vr?: string; Value?: unknown[] } | undefined>;

export interface SeriesRow {
  study_uid: string;
  series_uid: string;
  modality: string;
  number: number | null;
  instances: number;
}

function first(attributes: DicomJson, tag: string): unknown {
  return attributes[tag]?.Value?.[0];
}

function optionalNumber(value: unknown): number | null {
  const number = Number(value);
  return value === undefined || value === null || value === "" || !Number.isFinite(number) ? null : number;
}

/** Rows of a series search (`/dicomweb/<project>/series`), in the order the server gave. */
export function seriesFromQido(body: unknown): SeriesRow[] {
  if (!Array.isArray(body)) return [];
  return (body as DicomJson[]).map((attributes) => ({
    study_uid: String(first(attributes, "0020000D") ?? ""),
    series_uid: String(first(attributes, "0020000E") ?? ""),
    modality: String(first(attributes, "00080060") ?? ""),
    number: optionalNumber(first(attributes, "00200011")),
    instances: optionalNumber(first(attributes, "00201209")) ?? 0,
  })).filter((row) => row.series_uid);
}

/** The viewer's references for an instance search of one series, on this page's origin. */
export function instancesFromQido(body: unknown, origin: string, slug: string): InstanceRef[] {
  if (!Array.isArray(body)) return [];
  return (body as DicomJson[]).map((attributes) => {
    const study = String(first(attributes, "0020000D") ?? "");
    const series = String(first(attributes, "0020000E") ?? "");
    const sop = String(first(attributes, "00080018") ?? "");
    return {
      study_uid: study,
      series_uid: series,
      sop_instance_uid: sop,
      frames: optionalNumber(first(attributes, "00280008")) ?? 1,
      frame_time_ms: null,
      url: `${origin}/dicomweb/${slug}/studies/${study}/series/${series}/instances/${sop}`,
    };
  }).filter((instance) => instance.sop_instance_uid);
}

/** The end of a long UID, enough to tell series apart in a list. */
export function shortUid(uid: string, keep = 12): string {
  return uid.length > keep + 1 ? `…${uid.slice(-keep)}` : uid;
}

/** A series in one line: "US #3 · 1 image · …1234567890". */
export function describeSeries(row: SeriesRow): string {
  const number = row.number !== null ? ` #${row.number}` : "";
  return `${row.modality || "?"}${number} · ${row.instances} image${row.instances === 1 ? "" : "s"} · ${shortUid(row.series_uid)}`;
}
