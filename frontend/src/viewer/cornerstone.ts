// Cornerstone3D set-up, once per page, and the loading of an item's instances from the platform's
// own DICOMweb endpoints (never the source PACS): instance metadata as DICOM JSON, then frames one
// by one over WADO-RS with `wadors:` image ids.
import { init as coreInit, metaData } from "@cornerstonejs/core";
import { init as dicomImageLoaderInit, wadors } from "@cornerstonejs/dicom-image-loader";
import {
  AngleTool, BrushTool, LengthTool, PanTool, PlanarFreehandROITool, ProbeTool, RectangleROITool, StackScrollTool,
  WindowLevelTool, ZoomTool, addTool, init as toolsInit,
} from "@cornerstonejs/tools";
import type { InstanceRef } from "../types";
import { calibrationFromMetadata, type Calibration } from "../labeling/geometry";

type DicomJson = Record<string, { vr?: string; Value?: unknown[] } | undefined>;

let initialized = false;

/** Initialize Cornerstone3D once: the image loader's init clears the cache and every registered
 * instance, so a second call (React StrictMode mounts twice) would wipe the viewer. */
export function initCornerstone(): void {
  if (initialized) return;
  initialized = true;
  coreInit();
  dicomImageLoaderInit({ maxWebWorkers: Math.max(1, Math.min(4, Math.floor((navigator.hardwareConcurrency || 2) / 2))) });
  toolsInit();
  for (const tool of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool, LengthTool, AngleTool, ProbeTool,
    RectangleROITool, PlanarFreehandROITool, BrushTool]) {
    addTool(tool);
  }
}

/** One image of the item as the viewer stacks it: an instance's frame. */
export interface StackEntry { instance: number; frame: number; imageId: string }

export interface LoadedInstance {
  ref: InstanceRef;
  metadata: DicomJson;
  imageIds: string[];
  rows: number;
  columns: number;
  frames: number;
  calibration: Calibration | null;
  framesPerSecond: number | null;
}

function firstValue(metadata: DicomJson, tag: string): unknown {
  return metadata[tag]?.Value?.[0];
}

/** Frames per second of a cine: FrameTime (ms), else CineRate or RecommendedDisplayFrameRate. */
export function framesPerSecond(metadata: DicomJson, frameTimeMs: number | null): number | null {
  const frameTime = Number(frameTimeMs ?? firstValue(metadata, "00181063"));
  if (frameTime > 0) return 1000 / frameTime;
  const rate = Number(firstValue(metadata, "00180040") ?? firstValue(metadata, "00082144"));
  return rate > 0 ? rate : null;
}

// Instances already asked for, by URL: the next task's metadata is fetched while the worker answers
// the current one, so "submit and next" needs no round trip beyond the answer itself.
const known = new Map<string, Promise<LoadedInstance>>();
const KNOWN_LIMIT = 64;

/** An instance's DICOM JSON, registered for each of its frames' image ids (fetched once per page). */
export function loadInstance(ref: InstanceRef): Promise<LoadedInstance> {
  let loading = known.get(ref.url);
  if (!loading) {
    loading = fetchInstance(ref);
    loading.catch(() => known.delete(ref.url));
    known.set(ref.url, loading);
    if (known.size > KNOWN_LIMIT) known.delete(known.keys().next().value!);
  }
  return loading;
}

async function fetchInstance(ref: InstanceRef, signal?: AbortSignal): Promise<LoadedInstance> {
  const response = await fetch(`${ref.url}/metadata`, {
    headers: { Accept: "application/dicom+json" }, credentials: "same-origin", signal,
  });
  if (!response.ok) throw new Error(`metadata of ${ref.sop_instance_uid}: the server answered ${response.status}`);
  const body = await response.json();
  const metadata = (Array.isArray(body) ? body[0] : body) as DicomJson;
  if (!metadata["00080060"]) metadata["00080060"] = { vr: "CS", Value: ["OT"] }; // the loader needs a Modality
  inlinePaletteValues(metadata);
  const frames = Number(firstValue(metadata, "00280008") ?? ref.frames ?? 1) || 1;
  const imageIds = Array.from({ length: frames }, (_, index) => `wadors:${ref.url}/frames/${index + 1}`);
  for (const imageId of imageIds) wadors.metaDataManager.add(imageId, metadata as never);
  return {
    ref, metadata, imageIds, frames,
    rows: Number(firstValue(metadata, "00280010")),
    columns: Number(firstValue(metadata, "00280011")),
    calibration: calibrationFromMetadata(metadata),
    framesPerSecond: framesPerSecond(metadata, ref.frame_time_ms),
  };
}

const PALETTE_DATA = ["00281201", "00281202", "00281203"];

/** Palette colour lookup tables arrive as DICOM JSON InlineBinary (little-endian 16-bit words);
 * Cornerstone's WADO-RS metadata reads them only as a Value list, so decode them in place. */
export function inlinePaletteValues(metadata: DicomJson): void {
  for (const tag of PALETTE_DATA) {
    const element = metadata[tag] as { vr?: string; Value?: unknown[]; InlineBinary?: string } | undefined;
    if (!element?.InlineBinary || element.Value) continue;
    const bytes = Uint8Array.from(atob(element.InlineBinary), (character) => character.charCodeAt(0));
    const view = new DataView(bytes.buffer);
    element.Value = Array.from({ length: bytes.length >> 1 }, (_, index) => view.getUint16(index * 2, true));
  }
}

export function stackOf(instances: LoadedInstance[]): StackEntry[] {
  return instances.flatMap((instance, index) =>
    instance.imageIds.map((imageId, frame) => ({ instance: index, frame: frame + 1, imageId })));
}

/** Window centre and width the instance recommends, if any. */
export function recommendedWindow(metadata: DicomJson): { center: number; width: number } | null {
  const center = Number(firstValue(metadata, "00281050"));
  const width = Number(firstValue(metadata, "00281051"));
  return Number.isFinite(center) && width > 0 ? { center, width } : null;
}

export function imagePlaneOf(imageId: string): unknown {
  return metaData.get("imagePlaneModule", imageId);
}
