// The routing rule builder's model (labeling/routing.py): rules are tried in order, the first that
// matches decides; a rule's conditions must all hold; no condition means "always". Lists are kept
// as typed (a trailing comma while typing stays) and cleaned when the JSON is built. Conditions
// about the stage's model (training/) hold only once the model has scored the item.
import type { RoutingRule } from "../types";
import { nextUid, parseNumber } from "./schemaModel";

export interface EditorRule {
  uid: string;
  confidenceBelow: string | null; // null: this condition is not used
  confidenceAtLeast: string | null;
  skippedAs: string[] | null;
  field: { key: string; values: string[] } | null;
  /** true: the model's prediction equals the consensus on the model's field; false: it differs. */
  modelAgrees: boolean | null;
  modelConfidenceBelow: string | null;
  modelConfidenceAtLeast: string | null;
  randomShare: string | null;
  then: "accept" | "one_more" | number; // a number is the stage position to send to
  /** Condition keys the builder does not know, kept as they were. */
  extra: Record<string, unknown>;
}

/** What a rule's sentence and checks may know of its stage besides the pipeline. */
export interface RuleContext {
  /** The field the stage's model predicts; null when the stage has no model. */
  modelField?: string | null;
  /** The stage's answers per item and its most answers per item (the ceiling of "one more"). */
  redundancy?: number;
  mostAnswers?: number;
}

/** The field reviewers' verdicts are routed on in review and adjudication stages. */
export const VERDICT_FIELD = "_verdict";
export const VERDICT_VALUES = ["keep", "reject"];

const KNOWN = new Set(["confidence_below", "confidence_at_least", "skipped_as", "field", "in", "random_share",
  "model_agrees", "model_confidence_below", "model_confidence_at_least"]);

export function ruleFromJson(rule: RoutingRule): EditorRule {
  const condition = rule.if === "always" ? {} : (rule.if as Record<string, unknown>);
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(condition)) {
    // A model_agrees that is not a boolean is not the builder's to reinterpret: kept as written.
    if (!KNOWN.has(key) || (key === "model_agrees" && typeof value !== "boolean")) extra[key] = value;
  }
  const number = (key: string) => (key in condition
    ? (typeof condition[key] === "number" ? String(condition[key]) : "") : null);
  return {
    uid: nextUid(),
    confidenceBelow: number("confidence_below"),
    confidenceAtLeast: number("confidence_at_least"),
    skippedAs: Array.isArray(condition.skipped_as) ? condition.skipped_as.map(String) : null,
    field: typeof condition.field === "string"
      ? { key: condition.field, values: Array.isArray(condition.in) ? condition.in.map(String) : [] } : null,
    modelAgrees: typeof condition.model_agrees === "boolean" ? condition.model_agrees : null,
    modelConfidenceBelow: number("model_confidence_below"),
    modelConfidenceAtLeast: number("model_confidence_at_least"),
    randomShare: number("random_share"),
    then: rule.then === "accept" || rule.then === "one_more" ? rule.then : rule.then.send_to,
    extra,
  };
}

export function rulesFromJson(rules: RoutingRule[] | null | undefined): EditorRule[] {
  return (rules ?? []).map(ruleFromJson);
}

export function newRule(): EditorRule {
  return { uid: nextUid(), confidenceBelow: "0.8", confidenceAtLeast: null, skippedAs: null, field: null,
    modelAgrees: null, modelConfidenceBelow: null, modelConfidenceAtLeast: null, randomShare: null, then: "accept",
    extra: {} };
}

/** "a, b," → ["a", "b", ""]: kept while typing; cleanList drops the empties. */
export function splitList(text: string): string[] {
  return text.split(",").map((part) => part.trimStart());
}

export function cleanList(values: string[]): string[] {
  return values.map((value) => value.trim()).filter(Boolean);
}

export function ruleToJson(rule: EditorRule): RoutingRule {
  const condition: Record<string, unknown> = { ...rule.extra };
  const number = (value: string) => parseNumber(value) ?? NaN;
  if (rule.confidenceBelow !== null) condition.confidence_below = number(rule.confidenceBelow);
  if (rule.confidenceAtLeast !== null) condition.confidence_at_least = number(rule.confidenceAtLeast);
  if (rule.skippedAs !== null) condition.skipped_as = cleanList(rule.skippedAs);
  if (rule.field !== null) {
    condition.field = rule.field.key;
    condition.in = cleanList(rule.field.values);
  }
  if (rule.modelAgrees !== null) condition.model_agrees = rule.modelAgrees;
  if (rule.modelConfidenceBelow !== null) condition.model_confidence_below = number(rule.modelConfidenceBelow);
  if (rule.modelConfidenceAtLeast !== null) condition.model_confidence_at_least = number(rule.modelConfidenceAtLeast);
  if (rule.randomShare !== null) condition.random_share = number(rule.randomShare);
  return {
    if: Object.keys(condition).length ? (condition as RoutingRule["if"]) : "always",
    then: rule.then === "accept" || rule.then === "one_more" ? rule.then : { send_to: rule.then },
  };
}

export function rulesToJson(rules: EditorRule[]): RoutingRule[] {
  return rules.map(ruleToJson);
}

/** JSON with object keys sorted: the database hands conditions back in its own key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_, inner: unknown) => (inner && typeof inner === "object" && !Array.isArray(inner)
    ? Object.fromEntries(Object.entries(inner as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : inner));
}

/** Whether the rules being edited say what the stored ones say. */
export function sameRules(rules: EditorRule[], stored: RoutingRule[] | null | undefined): boolean {
  return canonicalJson(rulesToJson(rules)) === canonicalJson(stored ?? []);
}

export function usesModel(rule: EditorRule): boolean {
  return rule.modelAgrees !== null || rule.modelConfidenceBelow !== null || rule.modelConfidenceAtLeast !== null;
}

export function isAlways(rule: EditorRule): boolean {
  return rule.confidenceBelow === null && rule.confidenceAtLeast === null && rule.skippedAs === null
    && rule.field === null && !usesModel(rule) && rule.randomShare === null && Object.keys(rule.extra).length === 0;
}

/** A problem that does not stop the rules from being saved: the rule is valid but cannot apply. */
export function isWarning(message: string): boolean {
  return message.includes("never reached") || message.includes("never applies");
}

/** Problems by rule uid: what the server would refuse, and rules that can never apply. */
export function checkRules(rules: EditorRule[], positions: number[], ownPosition: number,
  context: RuleContext = {}): Record<string, string[]> {
  const problems: Record<string, string[]> = {};
  const add = (uid: string, message: string) => (problems[uid] ??= []).push(message);
  let alwaysAt: number | null = null;
  rules.forEach((rule, index) => {
    const thresholds = [["Confidence", rule.confidenceBelow], ["Minimum confidence", rule.confidenceAtLeast],
      ["Model confidence", rule.modelConfidenceBelow], ["Minimum model confidence", rule.modelConfidenceAtLeast],
      ["Random share", rule.randomShare]] as const;
    for (const [name, value] of thresholds) {
      if (value === null) continue;
      const number = parseNumber(value);
      if (number === undefined || !Number.isFinite(number) || number < 0 || number > 1) {
        add(rule.uid, `${name} is a number from 0 to 1.`);
      }
    }
    for (const [what, below, atLeast] of [["the consensus confidence", rule.confidenceBelow, rule.confidenceAtLeast],
      ["the model's confidence", rule.modelConfidenceBelow, rule.modelConfidenceAtLeast]] as const) {
      const low = parseNumber(below ?? ""), high = parseNumber(atLeast ?? "");
      if (low !== undefined && high !== undefined && Number.isFinite(low) && Number.isFinite(high) && high >= low) {
        add(rule.uid, `${what[0].toUpperCase()}${what.slice(1)} cannot be below ${low} and at least ${high} at once, so this rule never applies.`);
      }
    }
    if (rule.skippedAs !== null && cleanList(rule.skippedAs).length === 0) add(rule.uid, "Name at least one skip reason.");
    if (rule.field !== null) {
      if (!rule.field.key.trim()) add(rule.uid, "Choose the field to test.");
      if (cleanList(rule.field.values).length === 0) add(rule.uid, "Choose at least one answer the field must have.");
    }
    if (typeof rule.then === "number" && (!positions.includes(rule.then) || rule.then === ownPosition)) {
      add(rule.uid, "Send to another stage of this pipeline.");
    }
    if (rule.then === "one_more" && context.mostAnswers !== undefined && context.redundancy !== undefined
      && context.mostAnswers <= context.redundancy) {
      add(rule.uid, `The stage takes at most ${context.mostAnswers} answer${context.mostAnswers === 1 ? "" : "s"} per item, `
        + "as many as it asks for, so “one more answer” never applies: raise its most answers per item.");
    }
    if (usesModel(rule) && context.modelField === null) {
      add(rule.uid, "This stage has no model (see the Models tab), so a condition on the model never applies.");
    }
    if (alwaysAt !== null) add(rule.uid, `Rule ${alwaysAt + 1} always applies, so this rule is never reached.`);
    // "One more" stops matching once the item has its most answers, so it does not end the list.
    if (alwaysAt === null && isAlways(rule) && rule.then !== "one_more") alwaysAt = index;
  });
  return problems;
}

const share = (value: string | null) => {
  const number = parseNumber(value ?? "");
  return number !== undefined && Number.isFinite(number) ? `${Math.round(number * 1000) / 10} %` : "?";
};

/** The rule as a sentence, e.g. "If the consensus confidence is below 0.8: send to 2. Review." */
export function describeRule(rule: EditorRule, ownPosition: number, stageName: (position: number) => string,
  context: RuleContext = {}): string {
  const parts: string[] = [];
  if (rule.confidenceBelow !== null) parts.push(`the consensus confidence is below ${rule.confidenceBelow || "?"}`);
  if (rule.confidenceAtLeast !== null) parts.push(`the consensus confidence is at least ${rule.confidenceAtLeast || "?"}`);
  if (rule.skippedAs !== null) {
    parts.push(`an answer was skipped as ${cleanList(rule.skippedAs).map((reason) => `“${reason}”`).join(" or ") || "?"}`);
  }
  if (rule.field !== null) {
    const key = rule.field.key === VERDICT_FIELD ? "the reviewers' verdict" : `“${rule.field.key || "?"}”`;
    parts.push(`${key} is ${cleanList(rule.field.values).join(" or ") || "?"}`);
  }
  if (rule.modelAgrees !== null) {
    const on = context.modelField ? ` on “${context.modelField}”` : "";
    parts.push(`the model ${rule.modelAgrees ? "agrees" : "disagrees"} with the consensus${on}`);
  }
  if (rule.modelConfidenceBelow !== null) parts.push(`the model's confidence is below ${rule.modelConfidenceBelow || "?"}`);
  if (rule.modelConfidenceAtLeast !== null) {
    parts.push(`the model's confidence is at least ${rule.modelConfidenceAtLeast || "?"}`);
  }
  if (rule.randomShare !== null) parts.push(`the item is in a random ${share(rule.randomShare)}`);
  for (const key of Object.keys(rule.extra)) parts.push(`${key} (kept as written)`);
  const when = parts.length ? `If ${parts.join(" and ")}` : "Always";
  let outcome: string;
  if (rule.then === "accept") outcome = "accept the consensus as the item's result";
  else if (rule.then === "one_more") {
    outcome = `ask for one more answer (up to ${context.mostAnswers ?? "the stage's most"} answers per item)`;
  } else outcome = `${rule.then < ownPosition ? "send back to" : "send to"} ${rule.then}. ${stageName(rule.then)}`;
  return `${when}: ${outcome}.`;
}
