import fixtures from "./fixtures/answers.json";
import type { Schema } from "../types";
import { describeValue, draftFromAnswer, serializeAnswer, visibleFields, type Draft } from "./answers";

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
