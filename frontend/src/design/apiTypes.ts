// Shapes of the admin endpoints the design screens use (the serializers in
// cardiocrowd/accounts/serializers.py, cardiocrowd/imaging/, labeling/serializers.py, exports/).
import type { ConsensusMethod, Schema, Stage } from "../types";

export interface Project {
  slug: string;
  name: string;
  created_at: string;
  role: "crowd" | "expert" | "admin";
  date_policy: "shift" | "remove";
  retain_patient_characteristics: boolean;
  burned_in_policy: "quarantine" | "mask";
  pixel_mask_rules: MaskRule[];
}

export interface MaskRule { modality?: string; x?: number; y?: number; width?: number; height?: number }

export interface Membership { username: string; role: "crowd" | "expert" | "admin"; senior: boolean; created_at: string }

export interface SchemaTemplate { key: string; title: string; description: string; schema: Schema }

export interface PipelineTemplate {
  key: string;
  title: string;
  description: string;
  stages: { name: string; kind?: string; audience?: string; schema?: string; redundancy?: number }[];
}

export interface SchemaVersion { name: string; version: number; definition: Schema; created_by: string | null; created_at: string }

export interface ImportProblem { reference: string; reason: string }

export interface ImportJob {
  id: number;
  kind: "upload" | "folder" | "dicomweb";
  status: "queued" | "running" | "succeeded" | "failed";
  parameters: Record<string, unknown>;
  created_by: string | null;
  total: number;
  done: number;
  imported: number;
  duplicates: number;
  refused: number;
  quarantined: number;
  failure_reason: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  problems: ImportProblem[];
}

export interface DicomWebSource { id: number; name: string; url: string; auth: "none" | "basic" | "bearer"; username: string; secret_env: string }

export interface StudySummary {
  study_uid: string;
  patient_pseudonym: string;
  study_date: string;
  series_count: number;
  instance_count: number;
  quarantined_count: number;
}

export interface KnownAnswer {
  task: number;
  series_uid: string | null;
  purpose: "gold" | "qualification";
  value: Record<string, unknown>;
  explanation: string;
  source: "admin" | "review";
  schema_version: number;
  created_by: string | null;
  created_at: string;
}

export interface WorkerQuality {
  worker: string;
  stage: number;
  qualification: "not_started" | "in_progress" | "passed" | "failed";
  qualification_answered: number;
  qualification_correct: number;
  gold_answered: number;
  gold_correct: number;
  reliability: number;
  blocked_reason: string;
  blocked_at: string | null;
  updated_at: string;
}

export interface PipelineSettings {
  instructions: string;
  qualification_pass_mark: number;
  reliability_threshold: number;
  min_gold_for_blocking: number;
}

export interface InstructionImage { id: number; caption: string; content_type: string; url: string }

export interface ExportFile { name: string; kind: string; content_type: string; size: number; sha256: string; url: string }

export interface Export {
  id: number;
  version: number;
  status: "queued" | "building" | "ready" | "failed";
  requested_by: string | null;
  requested_at: string;
  started_at: string | null;
  finished_at: string | null;
  error: string;
  item_count: number;
  accepted_count: number;
  rejected_count: number;
  url: string;
  files: ExportFile[];
}

export interface StageDashboard {
  id: number;
  name: string;
  kind: Stage["kind"];
  audience: Stage["audience"];
  position: number;
  tasks: { total: number; open: number; complete: number };
  answers: number;
  answers_last_24h: number;
  throughput: number[];
  confidence_histogram: number[];
  mean_confidence: number | null;
  // Label stages only: the consensus method, what the last run used per field and why, open proposals.
  consensus_method?: ConsensusMethod;
  last_run?: ConsensusRunSummary | null;
  proposals?: { in_review: number; unrouted: number };
}

/** Per field of a run: the method asked for and used; with "auto", the basis, reason and scores per method. */
export interface FieldSelection {
  requested: string;
  method: string;
  basis?: "known_answers" | "answers_per_worker";
  reason?: string;
  scores?: Record<string, Record<string, number | null>>;
  options?: Record<string, FieldSelection | null>; // multiple choice: one choice per option
}

export interface ConsensusRunSummary { id: number; method: string; finished_at: string | null; fields: Record<string, FieldSelection> }

export interface ProjectDashboard {
  generated_at: string;
  items: { total: number; accepted: number; rejected: number; in_progress: number };
  stages: StageDashboard[];
}

export interface AgreementFigure { statistic: string; value: number | null; items: number; ratings: number }

export interface TierComparison { first: string; second: string; items: number; figures: Record<string, number | null> }

/** labeling/consensus/reproducibility.py's ICC: the form (e.g. "ICC(1,1)") with its confidence interval. */
export interface Intraclass { form: string; value: number | null; lower: number | null; upper: number | null; confidence: number; items: number; raters: number }

export interface BlandAltmanFigures { pairs: number; bias: number | null; sd: number | null; lower_limit: number | null; upper_limit: number | null }

/** Agreement of numbers and calipers (agreement_stats.py): ICC, Bland-Altman and its plot's [mean, difference] points. */
export interface MeasurementAgreement { icc: Intraclass | null; bland_altman: BlandAltmanFigures; plot: [number, number][] }

export interface DistanceSummary { count: number; mean: number | null; median: number | null; min: number | null; max: number | null; unit?: string }

export interface FieldAgreement {
  kind: "categorical" | "number" | "measurement" | "shape" | "landmark";
  answers: number;
  unit?: string | null;
  fleiss_kappa?: AgreementFigure;
  krippendorff_alpha?: AgreementFigure;
  pairs?: number;
  mean_dice?: number | null;
  min_dice?: number | null;
  /** Shapes: Hausdorff distance over pairs of crowd answers (mm on calibrated images). */
  hausdorff?: DistanceSummary;
  /** Landmarks: mean distance between corresponding points over pairs of crowd answers. */
  distance?: DistanceSummary;
  /** Numbers and calipers: the crowd's readings of an item against each other. */
  crowd?: MeasurementAgreement;
  /** Numbers and calipers: the crowd's median against the experts' value. */
  expert_agreement?: MeasurementAgreement & { first: string; second: string; items: number };
  crowd_vs_expert?: TierComparison[];
}

export interface StageAgreement { stage: { id: number; name: string }; items: number; fields: Record<string, FieldAgreement> }

// training/serializers.py: models that learn from a label stage's consensus, their runs, versions and
// predictions.

export type ModelTask = "classification" | "segmentation" | "regression";
export type TrainLayers = "auto" | "all" | "head";
export type RunKind = "train" | "pretrain" | "score";
export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled" | "superseded";

/** A version's figures on the held-out expert labels (train), or what a pretrain or upload holds. */
export interface VersionMetrics {
  n?: number;
  accuracy?: number | null;
  auc?: number | null;
  dice?: number | null;
  mae?: number | null;
  train_layers?: TrainLayers;
  images?: number; // pretrain: images it learned from
  source?: string; // upload: the file's name
  tensors_taken?: number; // upload: weights that fitted the network
}

export interface ModelVersion {
  id: number;
  number: number;
  kind: "train" | "pretrain" | "upload";
  parent: number | null;
  sha256: string;
  size: number;
  labels_used: number;
  metrics: VersionMetrics;
  history: number[];
  created_at: string;
}

export interface ModelSpec {
  id: number;
  name: string;
  stage: number;
  field: string;
  task: ModelTask;
  labels: string[];
  network: Record<string, unknown>;
  strategy: string;
  batch_size: number;
  retrain_every: number;
  retrain_hours: number;
  epochs: number;
  train_layers: TrainLayers;
  start_from: number | null;
  has_checkpoint: boolean;
  created_at: string;
  versions: ModelVersion[];
}

export interface TrainingRun {
  id: number;
  model: number;
  kind: RunKind;
  status: RunStatus;
  trigger: string;
  requested_by: string | null;
  requested_at: string;
  started_at: string | null;
  finished_at: string | null;
  progress: number;
  stage_of_work: string;
  cancel_requested: boolean;
  device: string;
  labels_used: number;
  version: number | null;
  error: string;
}

export interface ModelPrediction {
  item: number;
  version: number;
  value: unknown;
  probability: number | null;
  probabilities: Record<string, number>;
  uncertainty: number;
  created_at: string;
}
