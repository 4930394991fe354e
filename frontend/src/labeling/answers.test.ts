import fixtures from "./fixtures/answers.json";
import type { Schema } from "../types";
import { answerBody, describeValue, draftFromAnswer, serializeAnswer, startDraft, visibleFields, type Draft } from "./answers";

const schema = fixtures.schema as Schema;

describe("serializeAnswer", () => {
  it.each(fixtures.cases)("sends exactly what the API accepts: $name", ({ draft, sent }) => {
    const { value, problems } = serializeAnswer(schema, draft as unknown as Draft);

    expect(problems).toEqual({});
    expect(value).toEqual(sent);
  });

  it.each(fixtures.refused)("names the field the server would refuse: $name", ({ draft, problems }) => {
    expect(serializeAnswer(schema, draft as unknown as Draft).problems).toEqual(problems);
  });
});

describe("visibleFields", () => {
  it("shows a field only when its show_if condition holds", () => {
    const keys = (draft: Draft) => visibleFields(schema, draft).map((field) => field.key);

    expect(keys({ view: "PLAX" })).not.toContain("lv");
    expect(keys({ view: "A4C" })).toContain("lv");
  });
});

describe("draftFromAnswer", () => {
  it("turns numbers back into text and copies shapes", () => {
    const stored = { view: "A4C", lvef: 55, lv: { frame: 1, points: [[1, 2], [3, 4], [5, 0]], area_mm2: 12 } };

    const draft = draftFromAnswer(schema, stored);

    expect(draft).toEqual({ view: "A4C", lvef: "55", lv: stored.lv });
    expect(draft.lv).not.toBe(stored.lv);
  });
});

describe("describeValue", () => {
  it("reads sizes with their units and frame picks by label", () => {
    const field = (key: string) => schema.fields.find((candidate) => candidate.key === key)!;

    expect(describeValue(field("lv"), { frame: 3, points: [], area_mm2: 1234.56 })).toBe("12.35 cm² on frame 3");
    expect(describeValue(field("lvef"), 55)).toBe("55 %");
    expect(describeValue(field("phases"), { ED: 1, ES: 14 })).toBe("ED 1, ES 14");
    expect(describeValue(field("valves"), ["MR", "AR"])).toBe("MR, AR");
  });
});

describe("startDraft", () => {
  it("starts from the model's pre-label and names the fields it filled", () => {
    const mask = { frame: 12, rows: 4, columns: 4, rle: [5, 3, 8], instance: "1.2.3" };
    const prelabel = { view: "A4C", lvef: 48.5, mask, unknown_field: "x" };

    const { draft, prefilled } = startDraft(schema, prelabel);

    expect(prefilled.sort()).toEqual(["lvef", "mask", "view"]);
    expect(draft.view).toBe("A4C");
    expect(draft.lvef).toBe("48.5");
    expect(draft.mask).toEqual(mask);
    expect(draft.mask).not.toBe(mask); // the worker's edits must not change the payload
    expect(draft).not.toHaveProperty("unknown_field");
  });

  it.each([["no pre-label", undefined], ["a null pre-label", null], ["a pre-label of another schema's field", { other: "A4C" }],
    ["a pre-label that is a list", ["A4C"]], ["a pre-label whose value is null", { view: null }]])(
    "starts blank with %s", (_, prelabel) => {
      expect(startDraft(schema, prelabel as Record<string, unknown> | null | undefined)).toEqual({ draft: {}, prefilled: [] });
    });

  it("sends an answer started from a pre-label as such, and a blank start without the flag", () => {
    const { draft, prefilled } = startDraft(schema, { view: "PLAX" });
    const { value } = serializeAnswer(schema, draft);

    expect(answerBody(value, prefilled)).toEqual({ value: { view: "PLAX" }, from_prelabel: true });
    expect(answerBody(value, startDraft(schema, null).prefilled)).toEqual({ value: { view: "PLAX" } });
  });
});
