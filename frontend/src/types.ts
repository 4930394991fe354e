// Shapes of the REST API the app talks to (labeling/schema.py, labeling/selectors.py, the serializers).

export type FieldKind =
  | "single_choice" | "multiple_choice" | "yes_no_unsure" | "number" | "text"
  | "length" | "angle" | "points" | "bounding_box" | "contour" | "freehand" | "brush_mask"
  | "frame_selection";

export interface ChoiceOption { value: string; label?: string; shortcut?: string }

export interface Field {
  key: string;
  kind: FieldKind;
  label?: string;
  help?: string;
  required?: boolean;
  options?: ChoiceOption[];
  min?: number;
  max?: number;
  unit?: string;
  step?: number;
  max_length?: number;
  labels?: string[]; // frame_selection, e.g. ["ED", "ES"]
  shortcut?: string; // a tool's key
  show_if?: { field: string; in: string[] };
}

export interface Schema { fields: Field[] }

// Pixel coordinates: x = column, y = row, from 0 at the top-left corner of the image.
export type Point = [number, number];

export interface ShapeValue { frame: number; points: Point[]; instance?: string }
export interface BoxValue { frame: number; x: number; y: number; width: number; height: number; instance?: string }
export interface MaskValue { frame: number; rows: number; columns: number; rle: number[]; instance?: string }
export type FramesValue = Record<string, number> & { instance?: string };

export type FieldValue = string | string[] | number | ShapeValue | BoxValue | MaskValue | FramesValue | null;
export type AnswerValue = Record<string, FieldValue>;

export interface InstanceRef {
  study_uid: string;
  series_uid: string;
  sop_instance_uid: string;
  frames: number;
  frame_time_ms: number | null;
  url: string;
}

export interface ReviewAnswer {
  worker: string;
  worker_reliability: number | null;
  value: AnswerValue;
  skip_reason: string;
  verdict: string;
  note: string;
}

/** `unanimous`: every worker gave this value and the learned label differs (the item came to review for it). */
export interface ConsensusField {
  value: FieldValue; share?: number; votes?: number; calibrated?: number | null; unanimous?: FieldValue;
}

/** Whether the reviewer may keep the consensus as it is; the server decides (no tie, no empty consensus). */
export interface AcceptStatus { allowed: boolean; reason: "" | "tie" | "empty" | "contradicts_vote"; message: string }

/** A whole-stage run would change this accepted item: what was accepted beside what the run concluded. */
export interface ResultProposal {
  id: number;
  run: number | null;
  created_at: string;
  previous: AnswerValue;
  proposed: AnswerValue;
  previous_consensus: Record<string, ConsensusField>;
  proposed_consensus: Record<string, ConsensusField>;
}

export interface StageOutcome {
  stage: { id: number; name: string; kind: string };
  round: number;
  answers: ReviewAnswer[];
  consensus: { method: string; fields: Record<string, ConsensusField>; confidence: number } | null;
}

export interface TaskPayload {
  assignment: number;
  stage: { id: number; name: string; kind: "label" | "review" | "adjudication" };
  lease_expires_at: string | null;
  dicomweb: string;
  instances: InstanceRef[];
  schema: { name: string; version: number; definition: Schema };
  review?: StageOutcome[];
  verdicts?: string[];
  accept?: AcceptStatus;
  proposal?: ResultProposal;
  prelabel?: AnswerValue | null;
}

export interface FieldFeedback { field: string; right: boolean; expected: FieldValue; given: FieldValue }

export interface AnswerResponse {
  id: number;
  value: AnswerValue;
  skip_reason: string;
  verdict: string;
  feedback?: {
    kind: "gold" | "qualification";
    score: number;
    correct: boolean;
    explanation: string;
    fields: Record<string, { correct: boolean; expected: FieldValue; given: FieldValue }>;
    qualification?: { status: string; answered: number; right: number; of: number };
  };
}

export interface Stage {
  id: number;
  position: number;
  name: string;
  kind: "label" | "review" | "adjudication";
  audience: "crowd" | "expert";
  schema: string | null;
  schema_version: number | null;
  redundancy: number;
  max_redundancy: number;
  confidence_target: number;
  gold_rate_min: number;
  gold_rate_max: number;
  requires_qualification: boolean;
  show_prelabels: boolean;
  lease_seconds: number;
  routing: RoutingRule[];
  consensus_method?: ConsensusMethod; // admins only
  [key: string]: unknown;
}

export type ConsensusMethod = "auto" | "ds" | "onecoin" | "glad" | "mace" | "mv";

export type RoutingCondition =
  | "always"
  | {
    confidence_below?: number; confidence_at_least?: number; skipped_as?: string[]; field?: string; in?: string[];
    random_share?: number; model_agrees?: boolean; model_confidence_below?: number; model_confidence_at_least?: number;
  };
/** "one_more": the stage asks for one more answer (up to its most answers per item). */
export interface RoutingRule { if: RoutingCondition; then: "accept" | "one_more" | { send_to: number } }

export interface ProjectRef { slug: string; name: string; role: "crowd" | "expert" | "admin"; senior: boolean }

export interface Bootstrap {
  user: { username: string; is_staff: boolean };
  projects: ProjectRef[];
  csrf_token: string;
}
