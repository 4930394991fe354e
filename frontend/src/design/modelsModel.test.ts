import type { Schema } from "../types";
import type { ModelSpec, TrainingRun } from "./apiTypes";
import {
  describePrediction, describeProbabilities, describeRun, isActive, learnableFields, maskArea, newModelBody, newModelForm,
  problemsOf, settingsChanges, settingsFormOf, strategiesFor,
} from "./modelsModel";

const SCHEMA: Schema = { fields: [
  { key: "view", kind: "single_choice", label: "View", options: [{ value: "A4C", label: "Apical 4-chamber" }, { value: "PLAX" }] },
  { key: "effusion", kind: "yes_no_unsure" },
  { key: "lvef", kind: "number", unit: "%" },
  { key: "lv", kind: "contour" },
  { key: "mask", kind: "brush_mask" },
  { key: "valves", kind: "multiple_choice", options: [{ value: "MV" }] },
  { key: "note", kind: "text" },
  { key: "phases", kind: "frame_selection", labels: ["ED", "ES"] },
] };

const MODEL: ModelSpec = { id: 3, name: "Crowd: view", stage: 7, field: "view", task: "classification", labels: ["A4C", "PLAX"],
  network: {}, strategy: "tcm", batch_size: 20, retrain_every: 50, retrain_hours: 0, epochs: 40, train_layers: "auto",
  start_from: null, has_checkpoint: false, created_at: "", versions: [] };

function run(change: Partial<TrainingRun>): TrainingRun {
  return { id: 9, model: 3, kind: "train", status: "queued", trigger: "manual", requested_by: "admin", requested_at: "",
    started_at: null, finished_at: null, progress: 0, stage_of_work: "", cancel_requested: false, device: "", labels_used: 0,
    version: null, error: "", ...change };
}

describe("the models tab's model", () => {
  it("offers the fields a model can learn, as the task it makes, and not those with a model already", () => {
    expect(learnableFields(SCHEMA).map(({ field, task }) => [field.key, task])).toEqual([
      ["view", "classification"], ["effusion", "classification"], ["lvef", "regression"], ["lv", "segmentation"],
      ["mask", "segmentation"]]);
    expect(learnableFields(SCHEMA, ["view", "lv"]).map(({ field }) => field.key)).toEqual(["effusion", "lvef", "mask"]);
    expect(learnableFields(null)).toEqual([]);
  });

  it("offers the strategies of the task, each with a line of help", () => {
    expect(strategiesFor("classification").map((strategy) => strategy.value)).toEqual(
      ["tcm", "random", "entropy", "margin", "bald", "coreset", "typiclust"]);
    expect(strategiesFor("segmentation").map((strategy) => strategy.value)).toEqual(["random", "pixel_entropy", "tta_variance"]);
    expect(strategiesFor("regression").every((strategy) => strategy.help.length > 20 && strategy.help.length < 110)).toBe(true);
  });

  it("builds the body of a new model from the form", () => {
    const form = { ...newModelForm(), stage: "7", field: "view", name: " Views ", strategy: "bald", startFrom: "12", size: "96" };

    expect(newModelBody(form, "classification")).toEqual({ problems: {}, body: { stage: 7, field: "view", name: "Views",
      size: 96, strategy: "bald", batch_size: 20, retrain_every: 50, retrain_hours: 0, epochs: 40, train_layers: "auto",
      start_from: 12 } });
    expect(newModelBody({ ...form, name: "", strategy: "", startFrom: "" }, "classification").body).toEqual({ stage: 7,
      field: "view", size: 96, batch_size: 20, retrain_every: 50, retrain_hours: 0, epochs: 40, train_layers: "auto" });
  });

  it("names each field of a new model it cannot send", () => {
    const form = { ...newModelForm(), stage: "7", field: "lv", strategy: "bald", size: "8", epochs: "2.5", retrain_hours: "-1",
      batch_size: "many", startFrom: "v3" };

    expect(newModelBody(form, "segmentation").problems).toEqual({
      size: "Input size (pixels) is a whole number from 16 to 512.",
      strategy: "BALD does not apply to segmentation.",
      batch_size: "Batch size is a whole number from 1 to 10,000.",
      retrain_hours: "Retrain every (hours) is a number from 0 to 8,760.",
      epochs: "Epochs is a whole number from 1 to 1,000.",
      start_from: "A model version is a whole number (its id).",
    });
    expect(Object.keys(newModelBody(newModelForm(), null).problems)).toEqual(["stage", "field"]);
  });

  it("sends only the settings that changed", () => {
    const form = { ...settingsFormOf(MODEL), strategy: "margin", retrain_hours: "12.5", epochs: "40", name: "Crowd: view " };

    expect(settingsChanges(MODEL, form)).toEqual({ body: { strategy: "margin", retrain_hours: 12.5 }, problems: {} });
    expect(settingsChanges(MODEL, settingsFormOf(MODEL)).body).toEqual({});
    expect(settingsChanges(MODEL, { ...form, name: " ", strategy: "pixel_entropy" }).problems).toEqual({
      name: "The model needs a name.", strategy: "Pixel entropy does not apply to classification." });
  });

  it("reads the server's refusals by field", () => {
    expect(problemsOf({ field: ["the stage's schema has no field 'x'"], size: ["too big", "really"] })).toEqual({
      field: "the stage's schema has no field 'x'", size: "too big really" });
    expect(problemsOf("Server error")).toEqual({});
  });

  it.each([
    [{ status: "queued" }, "Training: waiting for a worker"],
    [{ status: "running", progress: 0.456, stage_of_work: "epoch 12/40", device: "cuda" }, "Training: 46 %, epoch 12/40 on cuda"],
    [{ status: "running", progress: 0.5, cancel_requested: true }, "Training: 50 % (stopping at the next step)"],
    [{ status: "succeeded", version: 4, labels_used: 120 }, "Training: done, version 4 from 120 labels"],
    [{ status: "succeeded", version: 4, kind: "score" }, "Rescoring: done, version 4"],
    [{ status: "failed", kind: "pretrain", error: "ValueError('x')" }, "Pretraining: failed (ValueError('x'))"],
    [{ status: "cancelled" }, "Training: cancelled"],
    [{ status: "superseded" }, "Training: superseded by a newer request"],
  ] as [Partial<TrainingRun>, string][])("describes a run %j", (change, text) => {
    expect(describeRun(run(change))).toBe(text);
  });

  it("follows only queued and running runs", () => {
    expect((["queued", "running", "succeeded", "failed", "cancelled", "superseded"] as const)
      .map((status) => isActive({ status }))).toEqual([true, true, false, false, false, false]);
  });

  it("describes what the model predicts", () => {
    const [view, , lvef] = SCHEMA.fields;

    expect(describePrediction("A4C", view)).toBe("Apical 4-chamber (A4C)");
    expect(describePrediction("PLAX", view)).toBe("PLAX");
    expect(describePrediction(55.5, lvef)).toBe("55.5 %");
    expect(describePrediction({ frame: 3, rows: 4, columns: 4, rle: [2, 3, 4, 1200, 7] })).toBe("mask of 1,203 px on frame 3");
    expect(describePrediction(null)).toBe("—");
    expect(maskArea("not a mask")).toBe(0);
    expect(describeProbabilities({ PLAX: 0.3, A4C: 0.62, A2C: 0.05, PSAX: 0.03 })).toBe("A4C 0.62 · PLAX 0.30 · A2C 0.05");
  });
});
