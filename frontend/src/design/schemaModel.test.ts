import templates from "../labeling/fixtures/answers.json";
import type { Schema } from "../types";
import {
  changeKind, checkFields, conditionValues, fromSchema, move, newField, serverProblems, toSchema, type EditorField,
} from "./schemaModel";

const ECHO_VIEW: Schema = {
  fields: [
    { key: "view", kind: "single_choice", label: "View", required: true, options: [
      { value: "A4C", label: "Apical 4-chamber", shortcut: "3" }, { value: "PLAX", label: "Parasternal long axis", shortcut: "1" }] },
    { key: "quality", kind: "single_choice", label: "Image quality", required: true, options: [
      { value: "good", label: "Good", shortcut: "g" }, { value: "poor", label: "Poor", shortcut: "x" }] },
    { key: "lvef", kind: "number", label: "LVEF", unit: "%", min: 5, max: 90, step: 1, required: true },
    { key: "phases", kind: "frame_selection", label: "ED and ES frames", labels: ["ED", "ES"], required: true },
    { key: "lv", kind: "contour", label: "LV", show_if: { field: "view", in: ["A4C"] } },
    { key: "comment", kind: "text", label: "Comment", max_length: 500 },
  ],
};

function byKey(fields: EditorField[], key: string): EditorField {
  return fields.find((field) => field.key === key)!;
}

describe("schema editor model", () => {
  it("turns a schema into rows and back unchanged", () => {
    expect(toSchema(fromSchema(ECHO_VIEW))).toEqual(ECHO_VIEW);
  });

  it("round-trips the shared answer fixtures' schema, which the server also accepts", () => {
    const schema = templates.schema as Schema;
    expect(toSchema(fromSchema(schema))).toEqual(schema);
    expect(checkFields(fromSchema(schema)).errors).toEqual({});
  });

  it("keeps settings it has no control for and writes the agreement tolerance under the kind's key", () => {
    const fields = fromSchema({ fields: [
      { key: "lvef", kind: "number", tolerance: 4, future_setting: "x" } as never,
      { key: "outline", kind: "contour", min_dice: 0.7 } as never,
    ] });

    expect(fields[0].tolerance).toBe("4");
    expect(fields[0].extra).toEqual({ future_setting: "x" });
    fields[1].tolerance = "0.85";
    expect(toSchema(fields).fields).toEqual([
      { key: "lvef", kind: "number", tolerance: 4, future_setting: "x" },
      { key: "outline", kind: "contour", min_dice: 0.85 },
    ]);
  });

  it("leaves out settings that do not apply to the field's kind and empty boxes", () => {
    const row = { ...newField("text", []), key: "note", min: "3", unit: "mm", maxLength: "", label: "  " };
    expect(toSchema([row]).fields).toEqual([{ key: "note", kind: "text" }]);
  });

  it("names new fields with keys not taken yet", () => {
    expect(newField("number", ["number", "number_2"]).key).toBe("number_3");
    expect(newField("yes_no_unsure", []).key).toBe("finding");
    expect(newField("single_choice", []).options).toHaveLength(2);
    expect(newField("frame_selection", []).labels).toEqual(["ED", "ES"]);
  });

  it("changes a field's kind keeping its key, label and options", () => {
    const [view] = fromSchema(ECHO_VIEW);
    const multiple = changeKind(view, "multiple_choice");
    const frames = changeKind(view, "frame_selection");

    expect(toSchema([multiple]).fields[0]).toEqual({ ...ECHO_VIEW.fields[0], kind: "multiple_choice" });
    expect(toSchema([frames]).fields[0]).toEqual({ key: "view", kind: "frame_selection", label: "View", required: true,
      labels: ["ED", "ES"] });
  });

  it("moves rows up and down and not past either end", () => {
    expect(move(["a", "b", "c"], 2, -1)).toEqual(["a", "c", "b"]);
    expect(move(["a", "b", "c"], 0, 1)).toEqual(["b", "a", "c"]);
    expect(move(["a", "b", "c"], 0, -1)).toEqual(["a", "b", "c"]);
    expect(move(["a", "b", "c"], 2, 1)).toEqual(["a", "b", "c"]);
  });

  it("offers a choice's options and yes/no/unsure as show_if answers", () => {
    const fields = fromSchema(ECHO_VIEW);
    expect(conditionValues(byKey(fields, "view")).map((option) => option.value)).toEqual(["A4C", "PLAX"]);
    expect(conditionValues(newField("yes_no_unsure", [])).map((option) => option.value)).toEqual(["yes", "no", "unsure"]);
  });

  it.each([
    ["a key that is not an identifier", (f: EditorField[]) => { f[0].key = "2d view"; }, "letters, digits"],
    ["a key starting with _", (f: EditorField[]) => { f[0].key = "_verdict"; }, "letters, digits"],
    ["a duplicate key", (f: EditorField[]) => { f[1].key = "view"; }, "already used by field 1"],
    ["an unknown kind", (f: EditorField[]) => { f[5].kind = "numbr" as never; }, "Unknown kind"],
    ["one option", (f: EditorField[]) => { f[0].options = f[0].options.slice(0, 1); }, "at least two options"],
    ["an option without a value", (f: EditorField[]) => { f[0].options[1].value = " "; }, "needs a value"],
    ["equal option values", (f: EditorField[]) => { f[0].options[1].value = "A4C"; }, "distinct"],
    ["equal shortcuts", (f: EditorField[]) => { f[0].options[1].shortcut = "3"; }, "shortcuts must be distinct"],
    ["min not below max", (f: EditorField[]) => { f[2].min = "90"; }, "below the maximum"],
    ["a minimum that is not a number", (f: EditorField[]) => { f[2].min = "five"; }, "Minimum must be a number"],
    ["no frame labels", (f: EditorField[]) => { f[3].labels = []; }, "Name every frame"],
    ["equal frame labels", (f: EditorField[]) => { f[3].labels = ["ED", "ED"]; }, "Frame labels must be distinct"],
    ["show_if on a later field", (f: EditorField[]) => { f[4].showIf = { field: "comment", in: ["x"] }; }, "above this one"],
    ["show_if with no answers", (f: EditorField[]) => { f[4].showIf = { field: "view", in: [] }; }, "at least one answer"],
  ])("refuses %s, naming the field", (_, spoil, message) => {
    const fields = fromSchema(ECHO_VIEW);
    spoil(fields);

    const { errors } = checkFields(fields);

    const all = Object.values(errors).flat();
    expect(all.some((text) => text.includes(message))).toBe(true);
    expect(errors[""]).toBeUndefined();
  });

  it("refuses an empty schema and only warns about shortcuts the labeling screen keeps", () => {
    expect(checkFields([]).errors[""]).toEqual(["A schema needs at least one field."]);
    const fields = fromSchema(ECHO_VIEW);
    fields[1].options[1].shortcut = "s";
    const { errors, warnings } = checkFields(fields);
    expect(errors).toEqual({});
    expect(warnings[fields[1].uid][0]).toContain('"s"');
  });

  it("puts the server's refusal next to the field it names", () => {
    const fields = fromSchema(ECHO_VIEW);
    const problems = serverProblems({ definition: { lvef: ["min must be below max"], "fields[3]": ["each field is an object"],
      fields: ["a schema needs a non-empty list of fields"] }, name: ["Enter a valid slug."] }, fields);

    expect(problems[byKey(fields, "lvef").uid]).toEqual(["min must be below max"]);
    expect(problems[byKey(fields, "phases").uid]).toEqual(["each field is an object"]);
    expect(problems[""]).toEqual(["fields: a schema needs a non-empty list of fields", "name: Enter a valid slug."]);
  });
});
