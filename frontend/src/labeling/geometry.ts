// Image geometry for answers: calibration from DICOM JSON, lengths and areas in mm, contour closing,
// run-length masks. Mirrors cardiocrowd/imaging/geometry.py and labeling/schema.py, which check what
// the browser sends: the numbers shown while drawing are the numbers the server stores.
import type { Point } from "../types";

type DicomJson = Record<string, { vr?: string; Value?: unknown[] } | undefined>;

/** Millimetres per pixel along rows (y) and columns (x). */
export interface Calibration { rowMm: number; columnMm: number; source: "pixel_spacing" | "ultrasound_region" }

const PIXEL_SPACING = "00280030";
const IMAGER_PIXEL_SPACING = "00181164";
const ULTRASOUND_REGIONS = "00186011";
const REGION_SPATIAL_FORMAT = "00186012";
const UNITS_X = "00186024";
const UNITS_Y = "00186026";
const DELTA_X = "0018602C";
const DELTA_Y = "0018602E";
const CENTIMETRES = 3;
const TWO_DIMENSIONAL = 1;

function first(attributes: DicomJson, tag: string): unknown {
  return attributes[tag]?.Value?.[0];
}

/** PixelSpacing (or Imager Pixel Spacing), else the first 2-D ultrasound region calibrated in cm,
 * else null (sizes stay in pixels). */
export function calibrationFromMetadata(metadata: DicomJson): Calibration | null {
  for (const tag of [PIXEL_SPACING, IMAGER_PIXEL_SPACING]) {
    const spacing = metadata[tag]?.Value?.map(Number);
    if (spacing && spacing.length === 2 && spacing.every((value) => value > 0)) {
      return { rowMm: spacing[0], columnMm: spacing[1], source: "pixel_spacing" };
    }
  }
  const regions = (metadata[ULTRASOUND_REGIONS]?.Value ?? []) as DicomJson[];
  for (const region of regions) {
    if (Number(first(region, REGION_SPATIAL_FORMAT)) === TWO_DIMENSIONAL &&
        Number(first(region, UNITS_X)) === CENTIMETRES && Number(first(region, UNITS_Y)) === CENTIMETRES) {
      const deltaX = Math.abs(Number(first(region, DELTA_X)));
      const deltaY = Math.abs(Number(first(region, DELTA_Y)));
      if (deltaX > 0 && deltaY > 0) return { rowMm: deltaY * 10, columnMm: deltaX * 10, source: "ultrasound_region" };
    }
  }
  return null;
}

/** Length of a segment in mm (or in pixels without a calibration). */
export function segmentLength(a: Point, b: Point, calibration: Calibration | null): number {
  const columnMm = calibration?.columnMm ?? 1;
  const rowMm = calibration?.rowMm ?? 1;
  return Math.hypot((b[0] - a[0]) * columnMm, (b[1] - a[1]) * rowMm);
}

/** Angle at `vertex` between the arms to `a` and `b`, in degrees, in physical space. */
export function angleDegrees(a: Point, vertex: Point, b: Point, calibration: Calibration | null): number {
  const columnMm = calibration?.columnMm ?? 1;
  const rowMm = calibration?.rowMm ?? 1;
  const first = [(a[0] - vertex[0]) * columnMm, (a[1] - vertex[1]) * rowMm];
  const second = [(b[0] - vertex[0]) * columnMm, (b[1] - vertex[1]) * rowMm];
  const cross = first[0] * second[1] - first[1] * second[0];
  const dot = first[0] * second[0] + first[1] * second[1];
  return Math.abs((Math.atan2(cross, dot) * 180) / Math.PI);
}

/** Shoelace area of a closed polygon in square pixels (the last point joins the first). */
export function polygonAreaPx(points: Point[]): number {
  let total = 0;
  for (let index = 0; index < points.length; index += 1) {
    const [x0, y0] = points[index];
    const [x1, y1] = points[(index + 1) % points.length];
    total += x0 * y1 - x1 * y0;
  }
  return Math.abs(total) / 2;
}

export function polygonAreaMm2(points: Point[], calibration: Calibration | null): number {
  return polygonAreaPx(points) * (calibration?.rowMm ?? 1) * (calibration?.columnMm ?? 1);
}

/** A drawn outline as the server stores it: rounded to 1/100 pixel, consecutive duplicates
 * dropped, and a last point that repeats the first removed (the closing edge is implied).
 * Returns null when fewer than 3 distinct points or no area remain. */
export function closeContour(points: Point[]): Point[] | null {
  const rounded = points.map(([x, y]) => [round(x, 2), round(y, 2)] as Point);
  const kept: Point[] = [];
  for (const point of rounded) {
    const last = kept[kept.length - 1];
    if (!last || last[0] !== point[0] || last[1] !== point[1]) kept.push(point);
  }
  while (kept.length > 3 && kept[0][0] === kept[kept.length - 1][0] && kept[0][1] === kept[kept.length - 1][1]) {
    kept.pop();
  }
  if (kept.length < 3 || polygonAreaPx(kept) === 0) return null;
  return kept;
}

/** Points clamped into the image (0..columns, 0..rows), as the server accepts them. */
export function clampToImage(points: Point[], rows: number, columns: number): Point[] {
  return points.map(([x, y]) => [Math.min(Math.max(x, 0), columns), Math.min(Math.max(y, 0), rows)] as Point);
}

/** Run lengths of a binary mask in row-major order, alternating background / foreground and
 * starting with background (a mask whose first pixel is set starts with a 0 run). */
export function encodeRle(mask: ArrayLike<number>): number[] {
  const runs: number[] = [];
  let current = 0;
  let length = 0;
  for (let index = 0; index < mask.length; index += 1) {
    const value = mask[index] ? 1 : 0;
    if (value === current) {
      length += 1;
    } else {
      runs.push(length);
      current = value;
      length = 1;
    }
  }
  runs.push(length);
  return runs;
}

export function decodeRle(runs: number[], size: number): Uint8Array {
  const mask = new Uint8Array(size);
  let position = 0;
  runs.forEach((run, index) => {
    if (index % 2 === 1) mask.fill(1, position, position + run);
    position += run;
  });
  if (position !== size) throw new Error(`run lengths cover ${position} pixels, the image has ${size}`);
  return mask;
}

export function maskAreaPx(runs: number[]): number {
  return runs.reduce((total, run, index) => (index % 2 === 1 ? total + run : total), 0);
}

export function round(value: number, places: number): number {
  const scale = 10 ** places;
  return Math.round(value * scale) / scale;
}

/** "12.3 mm" or "48 px": a size with the unit it really has. */
export function formatLength(value: number, calibration: Calibration | null): string {
  return calibration ? `${value.toFixed(1)} mm` : `${value.toFixed(0)} px`;
}

export function formatArea(value: number, calibration: Calibration | null): string {
  return calibration ? `${(value / 100).toFixed(2)} cm²` : `${value.toFixed(0)} px²`;
}
