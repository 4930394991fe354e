import type { Schema } from "../types";
import { applyDrawing, lockWhileDrawing, shapesOf } from "./shapes";

const schema: Schema = { fields: [
  { key: "view", kind: "single_choice", options: [{ value: "A4C" }, { value: "PLAX" }] },
  { key: "lv", kind: "contour", label: "LV" },
  { key: "box", kind: "bounding_box" },
  { key: "apex", kind: "points", max: 2 },
] };
const square: [number, number][] = [[0, 0], [10, 0], [10, 10], [0, 10]];

describe("applyDrawing", () => {
  it("gives a new outline to the active contour field", () => {
    const draft = applyDrawing(schema, {}, "lv", { id: null, kind: "contour", instance: "1.2", frame: 4, points: square });

    expect(draft).toEqual({ lv: { frame: 4, instance: "1.2", points: square } });
  });

  it("ignores a drawing the active field's tool did not make", () => {
    expect(applyDrawing(schema, {}, "lv", { id: null, kind: "length", instance: "1.2", frame: 1, points: [[0, 0], [1, 1]] }))
      .toBeNull();
  });

  it("turns two corners into a box drawn in any direction", () => {
    const draft = applyDrawing(schema, {}, "box", { id: null, kind: "bounding_box", instance: "1.2", frame: 2,
      points: [[30, 40], [10, 5]] });

    expect(draft?.box).toEqual({ frame: 2, instance: "1.2", x: 10, y: 5, width: 20, height: 35 });
  });

  it("adds points up to the field's maximum, keeping the newest", () => {
    let draft = {};
    for (const point of [[1, 1], [2, 2], [3, 3]] as [number, number][]) {
      draft = applyDrawing(schema, draft, "apex", { id: null, kind: "points", instance: "1.2", frame: 1, points: [point] })!;
    }
    expect(draft).toEqual({ apex: { frame: 1, instance: "1.2", points: [[2, 2], [3, 3]] } });
  });

  it("moves one point of the draft when its handle is dragged", () => {
    const draft = { apex: { frame: 1, instance: "1.2", points: [[2, 2], [3, 3]] as [number, number][] } };

    const moved = applyDrawing(schema, draft, null, { id: "draft:apex:1", kind: "points", instance: "1.2", frame: 1,
      points: [[5, 6]] });

    expect(moved?.apex).toEqual({ frame: 1, instance: "1.2", points: [[2, 2], [5, 6]] });
  });
});

describe("shapesOf", () => {
  it("draws each spatial field of an answer, boxes by corners and points one by one", () => {
    const answer = { view: "A4C", lv: { frame: 4, points: square }, box: { frame: 2, x: 1, y: 2, width: 3, height: 4 },
      apex: { frame: 1, points: [[1, 1], [2, 2]] } };

    const shapes = shapesOf(schema, answer, { prefix: "W1", color: "#f00", locked: true, label: "W1",
      defaultInstance: "1.2" });

    expect(shapes.map((shape) => [shape.id, shape.kind, shape.frame, shape.points])).toEqual([
      ["W1:lv", "contour", 4, square],
      ["W1:box", "bounding_box", 2, [[1, 2], [4, 6]]],
      ["W1:apex:0", "points", 1, [[1, 1]]],
      ["W1:apex:1", "points", 1, [[2, 2]]],
    ]);
    expect(shapes.every((shape) => shape.locked && shape.color === "#f00" && shape.instance === "1.2")).toBe(true);
    expect(shapes[0].label).toBe("W1 LV");
  });
});

describe("lockWhileDrawing", () => {
  it("locks only the active field's own shapes", () => {
    const answer = { lv: { frame: 1, points: square }, apex: { frame: 1, points: [[1, 1], [2, 2]] } };
    const shapes = shapesOf(schema, answer, { prefix: "draft", locked: false, defaultInstance: "1.2" });

    const locked = lockWhileDrawing(shapes, "apex").filter((shape) => shape.locked).map((shape) => shape.id);

    expect(locked).toEqual(["draft:apex:0", "draft:apex:1"]);
    expect(lockWhileDrawing(shapes, null)).toBe(shapes);
  });
});
