import { assignShortcuts } from "./shortcuts";
import type { Schema } from "../types";
import { shortcutAction } from "./shortcuts";

const schema: Schema = { fields: [
  { key: "view", kind: "single_choice", options: [{ value: "A4C", shortcut: "4" }, { value: "PLAX", shortcut: "1" }] },
  { key: "valves", kind: "multiple_choice", options: [{ value: "MR", shortcut: "m" }, { value: "AR", shortcut: "a" }] },
  { key: "phases", kind: "frame_selection", labels: ["ED", "ES"] },
  { key: "lv", kind: "contour", shortcut: "c" },
] };
const shortcuts = assignShortcuts(schema);
const at = { instance: "2.25.1", frame: 7 };

describe("schema shortcuts while entering an answer", () => {
  it("picks a single choice and toggles a multiple choice", () => {
    expect(shortcutAction(schema, shortcuts, {}, "4", at)).toEqual({ kind: "set", field: "view", value: "A4C" });
    expect(shortcutAction(schema, shortcuts, { valves: ["MR"] }, "A", at)).toEqual({ kind: "set", field: "valves", value: ["MR", "AR"] });
    expect(shortcutAction(schema, shortcuts, { valves: ["MR"] }, "m", at)).toEqual({ kind: "set", field: "valves", value: [] });
  });

  it("marks a frame at the frame shown, and not without one", () => {
    const key = shortcuts.forField.get("phases:ES")!;
    expect(shortcutAction(schema, shortcuts, { phases: { ED: 1, instance: "2.25.1" } as never }, key, at)).toEqual(
      { kind: "set", field: "phases", value: { ED: 1, ES: 7, instance: "2.25.1" } });
    expect(shortcutAction(schema, shortcuts, {}, key, null)).toBeNull();
  });

  it("picks a drawing tool, and ignores keys without a shortcut", () => {
    expect(shortcutAction(schema, shortcuts, {}, "c", at)).toEqual({ kind: "tool", field: "lv" });
    expect(shortcutAction(schema, shortcuts, {}, "9", at)).toBeNull();
  });
});
