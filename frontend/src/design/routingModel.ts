// The routing rule builder's model (labeling/routing.py): rules are tried in order, the first that
// matches decides; a rule's conditions must all hold; no condition means "always". Lists are kept
// as typed (a trailing comma while typing stays) and cleaned when the JSON is built.
import type { RoutingRule } from "../types";
import { nextUid, parseNumber } from "./schemaModel";

export interface EditorRule {
  uid: string;
  confidenceBelow: string | null; // null: this condition is not used
  skippedAs: string[] | null;
  field: { key: string; values: string[] } | null;
  randomShare: string | null;
  then: "accept" | number; // a number is the stage position to send to
  /** Condition keys the builder does not know, kept as they were. */
  extra: Record<string, unknown>;
}


/** The field reviewers' verdicts are routed on in review and adjudication stages. */
export const VERDICT_FIELD = "_verdict";
export const VERDICT_VALUES = ["keep", "reject"];

const KNOWN = new Set(["confidence_below", "skipped_as", "field", "in", "random_share"]);

export function ruleFromJson(rule: RoutingRule): EditorRule {
  const condition = rule.if === "always" ? {} : (rule.if as Record<string, unknown>);
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(condition)) if (!KNOWN.has(key)) extra[key] = value;
  const number = (value: unknown) => (typeof value === "number" ? String(value) : null);
  return {
    uid: nextUid(),
    confidenceBelow: "confidence_below" in condition ? number(condition.confidence_below) ?? "" : null,
    skippedAs: Array.isArray(condition.skipped_as) ? condition.skipped_as.map(String) : null,
    field: typeof condition.field === "string"
      ? { key: condition.field, values: Array.isArray(condition.in) ? condition.in.map(String) : [] } : null,
    randomShare: "random_share" in condition ? number(condition.random_share) ?? "" : null,
    then: rule.then === "accept" ? "accept" : rule.then.send_to,
    extra,
  };
}

export function rulesFromJson(rules: RoutingRule[] | null | undefined): EditorRule[] {
  return (rules ?? []).map(ruleFromJson);
}

export function newRule(): EditorRule {
  return { uid: nextUid(), confidenceBelow: "0.8", skippedAs: null, field: null, randomShare: null, then: "accept",
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
  if (rule.confidenceBelow !== null) condition.confidence_below = parseNumber(rule.confidenceBelow) ?? NaN;
  if (rule.skippedAs !== null) condition.skipped_as = cleanList(rule.skippedAs);
  if (rule.field !== null) {
    condition.field = rule.field.key;
    condition.in = cleanList(rule.field.values);
  }
  if (rule.randomShare !== null) condition.random_share = parseNumber(rule.randomShare) ?? NaN;
  return {
    if: Object.keys(condition).length ? (condition as RoutingRule["if"]) : "always",
    then: rule.then === "accept" ? "accept" : { send_to: rule.then },
  };
}

export function rulesToJson(rules: EditorRule[]): RoutingRule[] {
  return rules.map(ruleToJson);
}

export function isAlways(rule: EditorRule): boolean {
  return rule.confidenceBelow === null && rule.skippedAs === null && rule.field === null && rule.randomShare === null
    && Object.keys(rule.extra).length === 0;
}

/** Problems by rule uid: what the server would refuse, and rules that can never apply. */
export function checkRules(rules: EditorRule[], positions: number[], ownPosition: number): Record<string, string[]> {
  const problems: Record<string, string[]> = {};
  const add = (uid: string, message: string) => (problems[uid] ??= []).push(message);
  let alwaysAt: number | null = null;
  rules.forEach((rule, index) => {
    for (const [name, value] of [["Confidence", rule.confidenceBelow], ["Random share", rule.randomShare]] as const) {
      if (value === null) continue;
      const number = parseNumber(value);
      if (number === undefined || !Number.isFinite(number) || number < 0 || number > 1) {
        add(rule.uid, `${name} is a number from 0 to 1.`);
      }
    }
    if (rule.skippedAs !== null && cleanList(rule.skippedAs).length === 0) add(rule.uid, "Name at least one skip reason.");
    if (rule.field !== null) {
      if (!rule.field.key.trim()) add(rule.uid, "Choose the field to test.");
      if (cleanList(rule.field.values).length === 0) add(rule.uid, "Choose at least one answer the field must have.");
    }
    if (rule.then !== "accept" && (!positions.includes(rule.then) || rule.then === ownPosition)) {
      add(rule.uid, "Send to another stage of this pipeline.");
    }
    if (alwaysAt !== null) add(rule.uid, `Rule ${alwaysAt + 1} always applies, so this rule is never reached.`);
    if (alwaysAt === null && isAlways(rule)) alwaysAt = index;
  });
  return problems;
}

const share = (value: string | null) => {
  const number = parseNumber(value ?? "");
  return number !== undefined && Number.isFinite(number) ? `${Math.round(number * 1000) / 10} %` : "?";
};

/** The rule as a sentence, e.g. "If the consensus confidence is below 0.8: send to 2. Review." */
export function describeRule(rule: EditorRule, ownPosition: number, stageName: (position: number) => string): string {
  const parts: string[] = [];
  if (rule.confidenceBelow !== null) parts.push(`the consensus confidence is below ${rule.confidenceBelow || "?"}`);
  if (rule.skippedAs !== null) {
    parts.push(`an answer was skipped as ${cleanList(rule.skippedAs).map((reason) => `“${reason}”`).join(" or ") || "?"}`);
  }
  if (rule.field !== null) {
    const key = rule.field.key === VERDICT_FIELD ? "the reviewers' verdict" : `“${rule.field.key || "?"}”`;
    parts.push(`${key} is ${cleanList(rule.field.values).join(" or ") || "?"}`);
  }
  if (rule.randomShare !== null) parts.push(`the item is in a random ${share(rule.randomShare)}`);
  for (const key of Object.keys(rule.extra)) parts.push(`${key} (kept as written)`);
  const when = parts.length ? `If ${parts.join(" and ")}` : "Always";
  const outcome = rule.then === "accept" ? "accept the consensus as the item's result"
    : `${rule.then < ownPosition ? "send back to" : "send to"} ${rule.then}. ${stageName(rule.then)}`;
  return `${when}: ${outcome}.`;
}
