import type { RoutingRule } from "../types";
import {
  checkRules, describeRule, isWarning, newRule, ruleFromJson, rulesFromJson, rulesToJson, sameRules, splitList,
  type EditorRule,
} from "./routingModel";

// The rules of the built-in pipelines (labeling/templates.py) and routing.py's docstring.
const TEMPLATE_RULES: RoutingRule[] = [
  { if: { confidence_below: 0.8 }, then: { send_to: 2 } },
  { if: { skipped_as: ["poor image quality"] }, then: { send_to: 4 } },
  { if: { field: "view", in: ["A4C"] }, then: { send_to: 3 } },
  { if: { random_share: 0.05 }, then: { send_to: 5 } },
  { if: { confidence_below: 0.9, random_share: 0.1 }, then: { send_to: 2 } },
  { if: "always", then: "accept" },
];

const stageNames: Record<number, string> = { 1: "Crowd", 2: "Review", 3: "Contours", 4: "Quality", 5: "Audit" };
const name = (position: number) => stageNames[position] ?? "?";

describe("routing rule builder model", () => {
  it("turns rules into rows and back unchanged", () => {
    expect(rulesToJson(rulesFromJson(TEMPLATE_RULES))).toEqual(TEMPLATE_RULES);
  });

  it("keeps a condition it does not know", () => {
    const rule = { if: { confidence_below: 0.5, model_score_below: 0.2 }, then: "accept" } as unknown as RoutingRule;
    expect(rulesToJson(rulesFromJson([rule]))).toEqual([rule]);
  });

  it("writes a rule without conditions as always, and cleans the lists typed", () => {
    const rule: EditorRule = { ...newRule(), confidenceBelow: null, then: 2 };
    const field: EditorRule = { ...newRule(), confidenceBelow: null, field: { key: "view", values: splitList("A4C, A2C, ") },
      skippedAs: ["poor image quality", " "] };

    expect(rulesToJson([rule, field])).toEqual([
      { if: "always", then: { send_to: 2 } },
      { if: { skipped_as: ["poor image quality"], field: "view", in: ["A4C", "A2C"] }, then: "accept" },
    ]);
  });

  it("keeps a trailing comma while the admin types a list", () => {
    expect(splitList("A4C, ").join(",")).toBe("A4C,");
  });

  it("accepts the template rules in a five-stage pipeline", () => {
    const rules = rulesFromJson(TEMPLATE_RULES.slice(0, 5));
    expect(checkRules(rules, [1, 2, 3, 4, 5], 1)).toEqual({});
  });

  it.each([
    ["a confidence above 1", { confidenceBelow: "1.5" }, "Confidence is a number from 0 to 1."],
    ["a confidence that is not a number", { confidenceBelow: "high" }, "Confidence is a number from 0 to 1."],
    ["an empty confidence", { confidenceBelow: "" }, "Confidence is a number from 0 to 1."],
    ["a negative random share", { confidenceBelow: null, randomShare: "-0.1" }, "Random share is a number from 0 to 1."],
    ["no skip reason", { skippedAs: [""] }, "Name at least one skip reason."],
    ["a field condition without a field", { field: { key: "", values: ["A4C"] } }, "Choose the field to test."],
    ["a field condition without answers", { field: { key: "view", values: [] } }, "Choose at least one answer"],
    ["sending to itself", { then: 1 }, "Send to another stage of this pipeline."],
    ["sending to a stage that does not exist", { then: 9 }, "Send to another stage of this pipeline."],
  ])("refuses %s", (_, change, message) => {
    const rule = { ...newRule(), ...change } as EditorRule;

    const problems = checkRules([rule], [1, 2, 3], 1);

    expect(problems[rule.uid].some((text) => text.startsWith(message))).toBe(true);
  });

  it("says when a rule comes after one that always applies", () => {
    const always = ruleFromJson({ if: "always", then: { send_to: 2 } });
    const later = newRule();

    expect(checkRules([always, later], [1, 2], 1)[later.uid]).toEqual(["Rule 1 always applies, so this rule is never reached."]);
  });

  it("describes rules as sentences, send-backs included", () => {
    const [low, skipped, view, audit, both, always] = rulesFromJson(TEMPLATE_RULES);
    const verdict = ruleFromJson({ if: { field: "_verdict", in: ["reject"] }, then: { send_to: 1 } });

    expect(describeRule(low, 1, name)).toBe("If the consensus confidence is below 0.8: send to 2. Review.");
    expect(describeRule(skipped, 1, name)).toBe("If an answer was skipped as “poor image quality”: send to 4. Quality.");
    expect(describeRule(view, 1, name)).toBe("If “view” is A4C: send to 3. Contours.");
    expect(describeRule(audit, 1, name)).toBe("If the item is in a random 5 %: send to 5. Audit.");
    expect(describeRule(both, 1, name)).toBe(
      "If the consensus confidence is below 0.9 and the item is in a random 10 %: send to 2. Review.");
    expect(describeRule(always, 1, name)).toBe("Always: accept the consensus as the item's result.");
    expect(describeRule(verdict, 3, name)).toBe("If the reviewers' verdict is reject: send back to 1. Crowd.");
  });
});

// routing.py's docstring: the model weighed with the crowd.
const MODEL_RULES: RoutingRule[] = [
  { if: { model_agrees: true, confidence_at_least: 0.9, model_confidence_at_least: 0.9 }, then: "accept" },
  { if: { model_agrees: false }, then: "one_more" },
  { if: { confidence_below: 0.8, model_confidence_below: 0.8 }, then: { send_to: 2 } },
];

describe("routing rules that weigh the model", () => {
  it("turns model conditions and one more answer into rows and back unchanged", () => {
    const rows = rulesFromJson(MODEL_RULES);

    expect(rows.map((rule) => [rule.modelAgrees, rule.confidenceAtLeast, rule.modelConfidenceAtLeast,
      rule.modelConfidenceBelow, rule.then])).toEqual([
      [true, "0.9", "0.9", null, "accept"], [false, null, null, null, "one_more"], [null, null, null, "0.8", 2]]);
    expect(rulesToJson(rows)).toEqual(MODEL_RULES);
    expect(rows.every((rule) => Object.keys(rule.extra).length === 0)).toBe(true);
  });

  it("writes the conditions the builder sets", () => {
    const rule: EditorRule = { ...newRule(), confidenceBelow: null, modelAgrees: false, modelConfidenceBelow: "0.6",
      confidenceAtLeast: "0.5", then: "one_more" };

    expect(rulesToJson([rule])).toEqual([{ if: { confidence_at_least: 0.5, model_agrees: false, model_confidence_below: 0.6 },
      then: "one_more" }]);
  });

  it("keeps a model_agrees that is not true or false as written", () => {
    const rule = { if: { model_agrees: "yes" }, then: "accept" } as unknown as RoutingRule;

    const [row] = rulesFromJson([rule]);

    expect([row.modelAgrees, row.extra]).toEqual([null, { model_agrees: "yes" }]);
    expect(rulesToJson([row])).toEqual([rule]);
  });

  it("compares with the stored rules whatever the order of their keys", () => {
    const stored = [{ if: { random_share: 0.1, confidence_below: 0.9 }, then: { send_to: 2 } }] as RoutingRule[];
    const rows = rulesFromJson(stored);

    expect(sameRules(rows, stored)).toBe(true);
    expect(sameRules([{ ...rows[0], randomShare: "0.2" }], stored)).toBe(false);
    expect(sameRules([], null)).toBe(true);
  });

  it("accepts the docstring's rules in a stage that has a model and room for more answers", () => {
    expect(checkRules(rulesFromJson(MODEL_RULES), [1, 2], 1, { modelField: "view", redundancy: 3, mostAnswers: 5 }))
      .toEqual({});
  });

  it.each([
    ["a model confidence above 1", { modelConfidenceBelow: "2" }, "Model confidence is a number from 0 to 1."],
    ["a minimum model confidence below 0", { modelConfidenceAtLeast: "-1" }, "Minimum model confidence is a number from 0 to 1."],
    ["a minimum confidence that is not a number", { confidenceAtLeast: "sure" }, "Minimum confidence is a number from 0 to 1."],
  ])("refuses %s", (_, change, message) => {
    const rule = { ...newRule(), ...change } as EditorRule;

    const problems = checkRules([rule], [1, 2], 1, { modelField: "view" });

    expect(problems[rule.uid]).toContain(message);
    expect(isWarning(message)).toBe(false);
  });

  it.each([
    ["thresholds that exclude each other", { confidenceBelow: "0.5", confidenceAtLeast: "0.8" }, {},
      "The consensus confidence cannot be below 0.5 and at least 0.8 at once, so this rule never applies."],
    ["model thresholds that exclude each other", { confidenceBelow: null, modelConfidenceBelow: "0.7", modelConfidenceAtLeast: "0.7" },
      { modelField: "view" }, "The model's confidence cannot be below 0.7 and at least 0.7 at once, so this rule never applies."],
    ["a model condition in a stage without a model", { modelAgrees: true }, { modelField: null },
      "This stage has no model (see the Models tab), so a condition on the model never applies."],
    ["one more answer where the stage takes no more", { then: "one_more" }, { redundancy: 3, mostAnswers: 3 },
      "The stage takes at most 3 answers per item, as many as it asks for, so “one more answer” never applies: raise its most answers per item."],
  ])("warns of %s without blocking the save", (_, change, context, message) => {
    const rule = { ...newRule(), ...change } as EditorRule;

    const problems = checkRules([rule], [1, 2], 1, context);

    expect(problems[rule.uid]).toEqual([message]);
    expect(isWarning(message)).toBe(true);
  });

  it("does not warn of a model condition while the models are not known", () => {
    const rule = { ...newRule(), modelAgrees: true };

    expect(checkRules([rule], [1, 2], 1)).toEqual({});
  });

  it("lets rules after an unconditional one more answer be reached", () => {
    const more = ruleFromJson({ if: "always", then: "one_more" });
    const later = ruleFromJson({ if: { confidence_below: 0.8 }, then: { send_to: 2 } });

    expect(checkRules([more, later], [1, 2], 1, { redundancy: 3, mostAnswers: 5 })).toEqual({});
  });

  it("describes model rules as sentences", () => {
    const [both, disagree, unsure] = rulesFromJson(MODEL_RULES);
    const context = { modelField: "view", mostAnswers: 5 };

    expect(describeRule(both, 1, name, context)).toBe("If the consensus confidence is at least 0.9 and the model agrees with "
      + "the consensus on “view” and the model's confidence is at least 0.9: accept the consensus as the item's result.");
    expect(describeRule(disagree, 1, name, context)).toBe(
      "If the model disagrees with the consensus on “view”: ask for one more answer (up to 5 answers per item).");
    expect(describeRule(unsure, 1, name, context)).toBe(
      "If the consensus confidence is below 0.8 and the model's confidence is below 0.8: send to 2. Review.");
    expect(describeRule(disagree, 1, name)).toBe(
      "If the model disagrees with the consensus: ask for one more answer (up to the stage's most answers per item).");
  });
});
