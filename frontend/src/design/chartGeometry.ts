// Geometry of the dashboard's plain SVG charts: bar rectangles, line points, a rounded axis maximum
// with its ticks, and the labels of hours and confidence bins. Pure, so it is tested without a browser.

export interface Bar { index: number; value: number; x: number; y: number; width: number; height: number }

export interface Plot { left: number; top: number; width: number; height: number }

/** The smallest "nice" number (1, 2 or 5 times a power of ten) at or above `value`; 1 for nothing. */
export function niceMax(value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= value - 1e-9) return step * power;
  }
  return 10 * power;
}

/** Ticks from 0 to `max` inclusive, at most `most` intervals; for a whole `max`, whole-number
 * ticks only (the largest interval count up to `most` that divides it). */
export function ticks(max: number, most = 5): number[] {
  let count = most;
  if (Number.isInteger(max) && max >= 1) {
    while (count > 1 && max % count !== 0) count -= 1;
  }
  return Array.from({ length: count + 1 }, (_, index) => Math.round((max * index / count) * 1e6) / 1e6);
}

/** One bar per value inside `plot`, with `gap` (a share of each slot, 0 to 1) between bars; bars
 * grow up from the plot's bottom edge, scaled to `max` (niceMax of the values by default). */
export function barLayout(values: number[], plot: Plot, options: { gap?: number; max?: number } = {}): Bar[] {
  const gap = Math.min(Math.max(options.gap ?? 0.2, 0), 0.9);
  const max = options.max ?? niceMax(Math.max(0, ...values));
  const slot = values.length ? plot.width / values.length : 0;
  const width = slot * (1 - gap);
  return values.map((value, index) => {
    const clamped = Math.max(0, Math.min(value, max));
    const height = max > 0 ? (clamped / max) * plot.height : 0;
    return { index, value, x: plot.left + index * slot + (slot - width) / 2, y: plot.top + plot.height - height,
      width, height };
  });
}

/** The y coordinate of `value` on an axis from 0 (plot bottom) to `max` (plot top). */
export function yOf(value: number, max: number, plot: Plot): number {
  return plot.top + plot.height - (max > 0 ? (Math.min(value, max) / max) * plot.height : 0);
}

/** The x coordinate of `value` on an axis from 0 (plot left) to `max` (plot right), clamped to it. */
export function xOf(value: number, max: number, plot: Plot): number {
  return plot.left + (max > 0 ? (Math.max(0, Math.min(value, max)) / max) * plot.width : 0);
}

/** Points of a line chart on axes from 0 to `xMax` and from 0 to `yMax`. */
export function linePoints(points: { x: number; y: number }[], plot: Plot, xMax: number, yMax: number): { x: number; y: number }[] {
  return points.map((point) => ({ x: xOf(point.x, xMax, plot), y: yOf(Math.max(0, point.y), yMax, plot) }));
}

/** An SVG path through `points` in order ("" for none). */
export function linePath(points: { x: number; y: number }[]): string {
  return points.map((point, index) => `${index ? "L" : "M"}${round2(point.x)} ${round2(point.y)}`).join(" ");
}

const round2 = (value: number) => Math.round(value * 100) / 100;

/** Labels of the 24 hourly throughput bars, oldest first: the hour each ends, counted back from
 * `now` ("−23 h" … "now"). */
export function hourLabels(count = 24): string[] {
  return Array.from({ length: count }, (_, index) => (index === count - 1 ? "last hour" : `${count - 1 - index} h ago`));
}

/** Labels of `count` equal bins over [0, 1]: "0.0–0.1" … "0.9–1.0". */
export function binLabels(count = 10): string[] {
  return Array.from({ length: count }, (_, index) => `${(index / count).toFixed(1)}–${((index + 1) / count).toFixed(1)}`);
}

/** Share as a percentage with no decimals, "—" when there is no total. */
export function percent(part: number, total: number): string {
  return total > 0 ? `${Math.round((part / total) * 100)} %` : "—";
}

export interface Bounds { xMin: number; xMax: number; yMin: number; yMax: number }

/** Axis bounds of a Bland-Altman plot: x spans the pairs' means, y is symmetric about 0 and holds
 * every difference and limit; both padded by 10 % (a lone value or none still gives a span). */
export function blandAltmanBounds(points: [number, number][], lines: (number | null | undefined)[]): Bounds {
  const means = points.map(([mean]) => mean);
  const reach = Math.max(0, ...points.map(([, difference]) => Math.abs(difference)),
    ...lines.filter((line): line is number => typeof line === "number").map(Math.abs));
  const low = means.length ? Math.min(...means) : 0;
  const high = means.length ? Math.max(...means) : 1;
  const pad = (high - low) * 0.1 || Math.abs(high) * 0.1 || 1;
  const yMax = reach * 1.1 || 1;
  return { xMin: low - pad, xMax: high + pad, yMin: -yMax, yMax };
}

/** `value` on an axis from `min` (at `start`) to `max` (at `start + length`), clamped to it. */
export function scaleOf(value: number, min: number, max: number, start: number, length: number): number {
  if (!(max > min)) return start;
  return start + (Math.max(min, Math.min(value, max)) - min) / (max - min) * length;
}
