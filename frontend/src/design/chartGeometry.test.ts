import { barLayout, binLabels, blandAltmanBounds, hourLabels, linePath, linePoints, niceMax, percent, scaleOf, ticks, xOf, yOf } from "./chartGeometry";

const plot = { left: 40, top: 10, width: 240, height: 100 };

describe("chart geometry", () => {
  it.each([[0, 1], [-3, 1], [Number.NaN, 1], [0.3, 0.5], [1, 1], [3, 5], [7, 10], [10, 10], [11, 20], [240, 500], [1001, 2000]])(
    "rounds %s up to the nice axis maximum %s", (value, expected) => {
      expect(niceMax(value)).toBe(expected);
    });

  it("lays out bars side by side in their slots, growing up from the bottom", () => {
    const bars = barLayout([0, 5, 10], plot, { gap: 0.5 });

    expect(bars.map((bar) => [bar.x, bar.y, bar.width, bar.height])).toEqual([
      [60, 110, 40, 0], [140, 60, 40, 50], [220, 10, 40, 100],
    ]);
  });

  it("scales to a given maximum and clamps what exceeds it", () => {
    const [low, high] = barLayout([1, 8], plot, { gap: 0, max: 4 });

    expect([low.height, high.height, high.y]).toEqual([25, 100, 10]);
    expect([low.x, low.width, high.x]).toEqual([40, 120, 160]);
  });

  it("draws no bar for nothing and keeps 24 hourly slots", () => {
    const bars = barLayout(new Array(24).fill(0), plot);

    expect(bars).toHaveLength(24);
    expect(bars.every((bar) => bar.height === 0 && bar.y === 110)).toBe(true);
    expect(bars[23].x + bars[23].width).toBeCloseTo(280 - 10 * 0.2 / 2);
  });

  it("puts whole-number ticks on a whole-number axis", () => {
    expect(ticks(10)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(ticks(2)).toEqual([0, 1, 2]);
    expect(ticks(1)).toEqual([0, 1]);
    expect(ticks(20)).toEqual([0, 4, 8, 12, 16, 20]);
    expect(ticks(0.5)).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5]);
  });

  it("maps values to heights on the axis", () => {
    expect(yOf(0, 10, plot)).toBe(110);
    expect(yOf(10, 10, plot)).toBe(10);
    expect(yOf(5, 10, plot)).toBe(60);
    expect(yOf(3, 0, plot)).toBe(110);
  });

  it("labels hours counted back from now and confidence bins", () => {
    const hours = hourLabels();
    expect([hours[0], hours[22], hours[23]]).toEqual(["23 h ago", "1 h ago", "last hour"]);
    expect(binLabels()).toEqual(["0.0–0.1", "0.1–0.2", "0.2–0.3", "0.3–0.4", "0.4–0.5", "0.5–0.6", "0.6–0.7", "0.7–0.8",
      "0.8–0.9", "0.9–1.0"]);
    expect([percent(1, 3), percent(0, 0)]).toEqual(["33 %", "—"]);
  });

  it("places line points on both axes, clamped to them", () => {
    expect([xOf(0, 200, plot), xOf(100, 200, plot), xOf(300, 200, plot), xOf(5, 0, plot)]).toEqual([40, 160, 280, 40]);
    expect(linePoints([{ x: 0, y: 0.5 }, { x: 50, y: 1 }, { x: 100, y: -0.2 }], plot, 100, 1)).toEqual([
      { x: 40, y: 60 }, { x: 160, y: 10 }, { x: 280, y: 110 }]);
  });

  it("draws a path through the points in order", () => {
    expect(linePath([{ x: 40, y: 60 }, { x: 160.123, y: 10 }])).toBe("M40 60 L160.12 10");
    expect(linePath([])).toBe("");
  });

  it("bounds a Bland-Altman plot symmetrically about zero, holding every difference and limit", () => {
    expect(blandAltmanBounds([[10, 1], [20, -2]], [0.5, -3.5, 4])).toEqual({ xMin: 9, xMax: 21, yMin: -4.4, yMax: 4.4 });
    expect(blandAltmanBounds([[50, 0]], [null, undefined])).toEqual({ xMin: 45, xMax: 55, yMin: -1, yMax: 1 });
  });

  it("scales a value onto an axis, upside down for y, clamped to its ends", () => {
    expect(scaleOf(5, 0, 10, 40, 200)).toBe(140);
    expect(scaleOf(-1, -4, 4, 110, -100)).toBe(72.5);
    expect(scaleOf(99, 0, 10, 40, 200)).toBe(240);
    expect(scaleOf(3, 1, 1, 40, 200)).toBe(40);
  });
});
