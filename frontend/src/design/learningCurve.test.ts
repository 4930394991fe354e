import type { ModelSpec, ModelVersion } from "./apiTypes";
import { curveSummary, learningCurve, metricOf } from "./learningCurve";

function version(number: number, labels: number, metrics: ModelVersion["metrics"], kind: ModelVersion["kind"] = "train"): ModelVersion {
  return { id: 100 + number, number, kind, parent: null, sha256: "0".repeat(64), size: 1, labels_used: labels, metrics,
    history: [], created_at: "2026-01-01T00:00:00Z" };
}

const model = (task: ModelSpec["task"], versions: ModelVersion[]) => ({ task, versions });

describe("the learning curve", () => {
  it.each([["classification", "accuracy", true, true], ["segmentation", "dice", true, true], ["regression", "mae", false, false]] as const)(
    "plots %s models by %s", (task, key, higherIsBetter, bounded) => {
      expect(metricOf(task)).toMatchObject({ key, higherIsBetter, bounded });
    });

  it("takes the train versions' figures by labels used, and leaves pretraining and uploads out", () => {
    const curve = learningCurve(model("classification", [
      version(3, 120, { accuracy: 0.9, auc: 0.95, n: 30 }),
      version(1, 0, { images: 500 }, "pretrain"),
      version(2, 40, { accuracy: 0.7, auc: null, n: 30, train_layers: "head" }),
      version(4, 120, { accuracy: 0.92, auc: 0.96, n: 30 }),
      version(5, 0, { source: "model.pt", tensors_taken: 12 }, "upload"),
    ]));

    expect(curve.points).toEqual([
      { version: 2, labels: 40, value: 0.7, n: 30, auc: null },
      { version: 3, labels: 120, value: 0.9, n: 30, auc: 0.95 },
      { version: 4, labels: 120, value: 0.92, n: 30, auc: 0.96 },
    ]);
    expect([curve.trained, curve.unmeasured]).toEqual([3, []]);
  });

  it("says which versions have no figure when no expert labels were held out", () => {
    const curve = learningCurve(model("segmentation", [version(1, 20, { n: 0 }), version(2, 60, { dice: 0.81, n: 12 }),
      version(3, 90, { dice: Number.NaN, n: 12 })]));

    expect(curve.points.map((point) => point.version)).toEqual([2]);
    expect(curve.unmeasured.map((entry) => entry.number)).toEqual([1, 3]);
    expect(curveSummary(curve)).toBe("Version 2: Dice 0.810 with 60 labels (12 held-out expert labels). Versions 1, 3 have no "
      + "Dice: no expert labels were held out to measure them.");
  });

  it("sums up a curve: first, last and best", () => {
    const curve = learningCurve(model("regression", [version(1, 50, { mae: 8.25, n: 10 }), version(2, 100, { mae: 4.5, n: 10 }),
      version(3, 150, { mae: 5.125, n: 10 })]));

    expect(curveSummary(curve)).toBe("Mean absolute error from 8.25 with 50 labels to 5.13 with 150 labels over 3 versions; "
      + "best 4.50 (version 2, 100 labels).");
  });

  it("says a model without train versions is not trained, and one unmeasured version has none", () => {
    expect(curveSummary(learningCurve(model("classification", [version(1, 0, { images: 9 }, "pretrain")])))).toBe("Not trained yet.");
    expect(curveSummary(learningCurve(model("classification", [version(1, 30, { accuracy: null, auc: null, n: 0 })])))).toBe(
      "Version 1 has no accuracy: no expert labels were held out to measure it.");
  });
});
