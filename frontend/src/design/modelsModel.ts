// The Models tab's model (training/): which schema fields a model can learn, the active-learning
// strategies and settings with a line of help each, the forms as typed and the JSON the API takes
// (refusals named by field, as the server names them), and how runs and predictions read.
import type { Field, Schema } from "../types";
import type { ModelSpec, ModelTask, RunStatus, TrainingRun, TrainLayers } from "./apiTypes";
import { parseNumber } from "./schemaModel";

/** The field kinds a model learns, and as what (training/services.py: create_spec). */
export const LEARNABLE_KINDS: Readonly<Record<string, ModelTask>> = {
  single_choice: "classification", yes_no_unsure: "classification", number: "regression",
  contour: "segmentation", freehand: "segmentation", brush_mask: "segmentation",
};

export function taskOf(field: Pick<Field, "kind">): ModelTask | null {
  return LEARNABLE_KINDS[field.kind] ?? null;
}

/** The fields of `schema` a new model may predict: learnable, and without a model yet (`taken`). */
export function learnableFields(schema: Schema | null, taken: string[] = []): { field: Field; task: ModelTask }[] {
  return (schema?.fields ?? []).flatMap((field) => {
    const task = taskOf(field);
    return task && !taken.includes(field.key) ? [{ field, task }] : [];
  });
}

export interface Strategy { value: string; label: string; help: string; tasks: ModelTask[] }

const LABEL_TASKS: ModelTask[] = ["classification", "regression"];

export const STRATEGIES: Strategy[] = [
  { value: "tcm", label: "TCM", tasks: LABEL_TASKS,
    help: "Typical items first while labels are few (TypiClust), then the least certain (margin)." },
  { value: "random", label: "Random", tasks: [...LABEL_TASKS, "segmentation"],
    help: "Items in random order: the baseline the others should beat." },
  { value: "entropy", label: "Entropy", tasks: LABEL_TASKS,
    help: "The items whose predicted classes are most uncertain (highest entropy)." },
  { value: "margin", label: "Margin", tasks: LABEL_TASKS,
    help: "The items with the smallest gap between the two likeliest classes." },
  { value: "bald", label: "BALD", tasks: LABEL_TASKS,
    help: "Monte-Carlo dropout disagreement: where 20 noisy predictions of the model disagree most." },
  { value: "coreset", label: "Core-set", tasks: LABEL_TASKS,
    help: "A batch spread over the image space (k-center on the model's embeddings), not near-copies." },
  { value: "typiclust", label: "TypiClust", tasks: LABEL_TASKS,
    help: "The most typical item of each cluster no label covers yet: for a cold start." },
  { value: "pixel_entropy", label: "Pixel entropy", tasks: ["segmentation"],
    help: "The masks with the most uncertain pixels on average." },
  { value: "tta_variance", label: "TTA variance", tasks: ["segmentation"],
    help: "Where the mask changes most when the image is flipped or shifted (test-time augmentation)." },
];

export function strategiesFor(task: ModelTask): Strategy[] {
  return STRATEGIES.filter((strategy) => strategy.tasks.includes(task));
}

export function strategyOf(value: string): Strategy | undefined {
  return STRATEGIES.find((strategy) => strategy.value === value);
}

/** The server's default when none is chosen. */
export function defaultStrategy(task: ModelTask): string {
  return task === "segmentation" ? "pixel_entropy" : "tcm";
}

export const TRAIN_LAYERS: { value: TrainLayers; label: string; help: string }[] = [
  { value: "auto", label: "Auto", help: "The head alone while a pretrained start has under 300 labels, else every layer." },
  { value: "all", label: "All layers", help: "Fine-tune the whole network: best with many labels, slower." },
  { value: "head", label: "Head only", help: "Only the last layer learns: fast, and good with few labels." },
];

export const TASK_HELP: Record<ModelTask, string> = {
  classification: "classification: predicts the choice",
  regression: "regression: predicts the number",
  segmentation: "segmentation: predicts the outline as a mask",
};

/** The numbers of a model's settings: the API's bounds (training/serializers.py) and a line of help. */
export const NUMBER_SETTINGS = [
  { key: "batch_size", label: "Batch size", min: 1, max: 10_000, whole: true,
    help: "Items the strategy puts first after each run." },
  { key: "retrain_every", label: "Retrain every (labels)", min: 1, max: 1_000_000, whole: true,
    help: "New consensus labels that start a new training run." },
  { key: "retrain_hours", label: "Retrain every (hours)", min: 0, max: 24 * 365, whole: false,
    help: "Also retrain on this schedule when labels changed; 0 = off." },
  { key: "epochs", label: "Epochs", min: 1, max: 1000, whole: true,
    help: "Passes over the labeled items in each training run (at least 300 training steps: more passes while labels are few)." },
] as const;

export type NumberSettingKey = (typeof NUMBER_SETTINGS)[number]["key"];

export const SIZE_SETTING = { key: "size", label: "Input size (pixels)", min: 16, max: 512, whole: true,
  help: "Images are resized to this many pixels a side: larger sees more detail and trains slower." } as const;

/** A model's settings as typed in the form. */
export type SettingsForm = Record<NumberSettingKey, string> & { name: string; strategy: string; train_layers: TrainLayers };

export function settingsFormOf(model: ModelSpec): SettingsForm {
  return { name: model.name, strategy: model.strategy, train_layers: model.train_layers,
    batch_size: String(model.batch_size), retrain_every: String(model.retrain_every),
    retrain_hours: String(model.retrain_hours), epochs: String(model.epochs) };
}

/** A number typed in a form, checked against its bounds: the number, or the problem. */
export function checkNumber(text: string, setting: { label: string; min: number; max: number; whole: boolean }):
  { value?: number; problem?: string } {
  const value = parseNumber(text);
  const kind = setting.whole ? "a whole number" : "a number";
  if (value === undefined || !Number.isFinite(value) || (setting.whole && !Number.isInteger(value))
    || value < setting.min || value > setting.max) {
    return { problem: `${setting.label} is ${kind} from ${setting.min} to ${setting.max.toLocaleString("en")}.` };
  }
  return { value };
}

export interface Checked { body: Record<string, unknown>; problems: Record<string, string> }

/** The PATCH body of what changed in the settings, or the problems by field. */
export function settingsChanges(model: ModelSpec, form: SettingsForm): Checked {
  const body: Record<string, unknown> = {};
  const problems: Record<string, string> = {};
  const name = form.name.trim();
  if (!name) problems.name = "The model needs a name.";
  else if (name !== model.name) body.name = name;
  if (form.strategy !== model.strategy) body.strategy = form.strategy;
  if (form.train_layers !== model.train_layers) body.train_layers = form.train_layers;
  for (const setting of NUMBER_SETTINGS) {
    const { value, problem } = checkNumber(form[setting.key], setting);
    if (problem) problems[setting.key] = problem;
    else if (value !== model[setting.key]) body[setting.key] = value;
  }
  if (strategyOf(form.strategy) && !strategyOf(form.strategy)!.tasks.includes(model.task)) {
    problems.strategy = `${strategyOf(form.strategy)!.label} does not apply to ${model.task}.`;
  }
  return { body, problems };
}

/** The new-model form as typed. `startFrom`: "" for none, else a version id. */
export type NewModelForm = Record<NumberSettingKey | "size", string> & {
  stage: string; field: string; name: string; strategy: string; train_layers: TrainLayers; startFrom: string;
};

export function newModelForm(): NewModelForm {
  return { stage: "", field: "", name: "", strategy: "", train_layers: "auto", startFrom: "", size: "64",
    batch_size: "20", retrain_every: "50", retrain_hours: "0", epochs: "40" };
}

/** The POST body of a new model, or the problems by field. `task` is what the chosen field makes. */
export function newModelBody(form: NewModelForm, task: ModelTask | null): Checked {
  const body: Record<string, unknown> = {};
  const problems: Record<string, string> = {};
  const stage = Number(form.stage);
  if (!form.stage || !Number.isInteger(stage)) problems.stage = "Choose the label stage the model learns from.";
  else body.stage = stage;
  if (!form.field || !task) problems.field = "Choose the field the model predicts.";
  else body.field = form.field;
  if (form.name.trim()) body.name = form.name.trim();
  for (const setting of [SIZE_SETTING, ...NUMBER_SETTINGS]) {
    const { value, problem } = checkNumber(form[setting.key], setting);
    if (problem) problems[setting.key] = problem;
    else body[setting.key] = value;
  }
  if (form.strategy) {
    const strategy = strategyOf(form.strategy);
    if (task && strategy && !strategy.tasks.includes(task)) problems.strategy = `${strategy.label} does not apply to ${task}.`;
    else body.strategy = form.strategy;
  }
  body.train_layers = form.train_layers;
  if (form.startFrom) {
    const version = parseNumber(form.startFrom);
    if (version === undefined || !Number.isInteger(version) || version < 1) problems.start_from = "A model version is a whole number (its id).";
    else body.start_from = version;
  }
  return { body, problems };
}

/** A DRF 400 body as one message per field: {"field": ["…"]} → {field: "…"}. */
export function problemsOf(body: unknown): Record<string, string> {
  if (!body || typeof body !== "object" || Array.isArray(body)) return {};
  return Object.fromEntries(Object.entries(body as Record<string, unknown>)
    .map(([key, value]) => [key, [value].flat().map(String).join(" ")]));
}

const ACTIVE: ReadonlySet<RunStatus> = new Set(["queued", "running"]);

export function isActive(run: Pick<TrainingRun, "status">): boolean {
  return ACTIVE.has(run.status);
}

export const RUN_KINDS = {
  train: { label: "Train", help: "Fit on the consensus labels so far, score the items waiting and reorder the queue." },
  pretrain: { label: "Pretrain", help: "Learn from every image of the stage without labels (self-supervised), for later training to start from." },
  score: { label: "Rescore", help: "Score the items waiting again with the version in force (after a change of strategy, say)." },
} as const;

/** What a run is doing, in a line: "Training: running, 45 % (epoch 12 of 40)". */
export function describeRun(run: TrainingRun): string {
  const what = { train: "Training", pretrain: "Pretraining", score: "Rescoring" }[run.kind] ?? run.kind;
  const percent = `${Math.round(run.progress * 100)} %`;
  switch (run.status) {
    case "queued": return `${what}: waiting for a worker${run.cancel_requested ? " (cancelling)" : ""}`;
    case "running": return `${what}: ${percent}${run.stage_of_work ? `, ${run.stage_of_work}` : ""}`
      + `${run.device ? ` on ${run.device}` : ""}${run.cancel_requested ? " (stopping at the next step)" : ""}`;
    case "succeeded": return `${what}: done${run.version !== null ? `, version ${run.version}` : ""}`
      + `${run.kind === "train" ? ` from ${run.labels_used} label${run.labels_used === 1 ? "" : "s"}` : ""}`;
    case "failed": return `${what}: failed${run.error ? ` (${run.error})` : ""}`;
    case "cancelled": return `${what}: cancelled`;
    case "superseded": return `${what}: superseded by a newer request`;
  }
}

/** Foreground pixels of a run-length mask (runs alternate background, foreground). */
export function maskArea(rle: unknown): number {
  return Array.isArray(rle) ? rle.reduce<number>((total, run, index) => total + (index % 2 === 1 ? Number(run) || 0 : 0), 0) : 0;
}

/** A prediction's value as a line: the class, the number, or the mask's size and frame. */
export function describePrediction(value: unknown, field?: Field): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return `${value}${field?.unit ? ` ${field.unit}` : ""}`;
  if (typeof value === "string") {
    const option = field?.options?.find((candidate) => candidate.value === value);
    return option?.label && option.label !== value ? `${option.label} (${value})` : value;
  }
  if (typeof value === "object" && "rle" in value) {
    const mask = value as { rle: unknown; frame?: number };
    return `mask of ${maskArea(mask.rle).toLocaleString("en")} px${mask.frame !== undefined ? ` on frame ${mask.frame}` : ""}`;
  }
  return JSON.stringify(value);
}

/** The class probabilities, likeliest first: "A4C 0.62 · PLAX 0.30". */
export function describeProbabilities(probabilities: Record<string, number>, most = 3): string {
  return Object.entries(probabilities).sort(([, a], [, b]) => b - a).slice(0, most)
    .map(([label, probability]) => `${label} ${probability.toFixed(2)}`).join(" · ");
}
