import type { RoutingRule } from "../types";
import {
  checkRules, describeRule, newRule, ruleFromJson, rulesFromJson, rulesToJson, splitList, type EditorRule,
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
