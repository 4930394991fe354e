// A model's learning curve for the dashboard: each trained version's validation figure (accuracy,
// Dice or mean absolute error, on the held-out expert labels) against the consensus labels it was
// trained on. Pure, so it is tested without a browser.
import type { ModelSpec, ModelTask, ModelVersion } from "./apiTypes";

export interface Metric {
  key: "accuracy" | "dice" | "mae";
  name: string;
  /** Accuracy and Dice improve upwards and live in [0, 1]; an error improves downwards, unbounded. */
  higherIsBetter: boolean;
  bounded: boolean;
}

export function metricOf(task: ModelTask): Metric {
  if (task === "segmentation") return { key: "dice", name: "Dice", higherIsBetter: true, bounded: true };
  if (task === "regression") return { key: "mae", name: "mean absolute error", higherIsBetter: false, bounded: false };
  return { key: "accuracy", name: "accuracy", higherIsBetter: true, bounded: true };
}

export interface CurvePoint { version: number; labels: number; value: number; n: number; auc: number | null }

export interface LearningCurve {
  metric: Metric;
  /** Measured train versions, by labels used (then version). */
  points: CurvePoint[];
  /** Train versions with no figure: no held-out expert labels yet (n = 0), or none computable. */
  unmeasured: ModelVersion[];
  trained: number;
}

const finite = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);

export function learningCurve(model: Pick<ModelSpec, "task" | "versions">): LearningCurve {
  const metric = metricOf(model.task);
  const trained = model.versions.filter((version) => version.kind === "train")
    .sort((a, b) => a.labels_used - b.labels_used || a.number - b.number);
  const points: CurvePoint[] = [];
  const unmeasured: ModelVersion[] = [];
  for (const version of trained) {
    const value = version.metrics[metric.key];
    const n = version.metrics.n ?? 0;
    if (n > 0 && finite(value)) {
      points.push({ version: version.number, labels: version.labels_used, value, n,
        auc: finite(version.metrics.auc) ? version.metrics.auc : null });
    } else {
      unmeasured.push(version);
    }
  }
  return { metric, points, unmeasured, trained: trained.length };
}

export function formatMetric(metric: Metric, value: number): string {
  return metric.bounded ? value.toFixed(3) : value.toPrecision(3);
}

/** The curve in a sentence or two, for screen readers and as the chart's caption. */
export function curveSummary(curve: LearningCurve): string {
  const { metric, points, unmeasured, trained } = curve;
  if (trained === 0) return "Not trained yet.";
  const parts: string[] = [];
  if (points.length) {
    const first = points[0];
    const last = points[points.length - 1];
    const best = points.reduce((top, point) => ((metric.higherIsBetter ? point.value > top.value : point.value < top.value)
      ? point : top));
    parts.push(points.length === 1
      ? `Version ${first.version}: ${metric.name} ${formatMetric(metric, first.value)} with ${first.labels} labels `
        + `(${first.n} held-out expert labels).`
      : `${metric.name[0].toUpperCase()}${metric.name.slice(1)} from ${formatMetric(metric, first.value)} with ${first.labels} labels `
        + `to ${formatMetric(metric, last.value)} with ${last.labels} labels over ${points.length} versions; `
        + `best ${formatMetric(metric, best.value)} (version ${best.version}, ${best.labels} labels).`);
  }
  if (unmeasured.length) {
    const versions = unmeasured.map((version) => version.number).join(", ");
    parts.push(`${unmeasured.length === 1 ? "Version" : "Versions"} ${versions} ${unmeasured.length === 1 ? "has" : "have"} no `
      + `${metric.name}: no expert labels were held out to measure ${unmeasured.length === 1 ? "it" : "them"}.`);
  }
  return parts.join(" ");
}
