import {
  angleDegrees, calibrationFromMetadata, closeContour, decodeRle, encodeRle, maskAreaPx, polygonAreaMm2,
  polygonAreaPx, segmentLength,
} from "./geometry";

describe("calibrationFromMetadata", () => {
  it("reads PixelSpacing as row and column mm", () => {
    expect(calibrationFromMetadata({ "00280030": { Value: [0.7, 0.5] } }))
      .toEqual({ rowMm: 0.7, columnMm: 0.5, source: "pixel_spacing" });
  });

  it("reads a 2-D ultrasound region calibrated in cm, as the server does", () => {
    const region = { "00186012": { Value: [1] }, "00186024": { Value: [3] }, "00186026": { Value: [3] },
      "0018602C": { Value: [0.035] }, "0018602E": { Value: [-0.04] } };
    const doppler = { "00186012": { Value: [3] }, "00186024": { Value: [4] }, "00186026": { Value: [7] } };

    const calibration = calibrationFromMetadata({ "00186011": { Value: [doppler, region] } });

    expect(calibration?.source).toBe("ultrasound_region");
    expect(calibration?.rowMm).toBeCloseTo(0.4, 10);
    expect(calibration?.columnMm).toBeCloseTo(0.35, 10);
  });

  it("has no calibration without either", () => {
    expect(calibrationFromMetadata({ "00280010": { Value: [480] } })).toBeNull();
  });
});

describe("lengths, angles and areas", () => {
  const spacing = { rowMm: 0.5, columnMm: 0.25, source: "pixel_spacing" as const };

  it("measures a segment in mm along each axis's spacing", () => {
    expect(segmentLength([0, 0], [40, 0], spacing)).toBe(10);
    expect(segmentLength([0, 0], [0, 40], spacing)).toBe(20);
    expect(segmentLength([0, 0], [3, 4], null)).toBe(5);
  });

  it("measures an angle in physical space", () => {
    expect(angleDegrees([10, 0], [0, 0], [0, 10], null)).toBeCloseTo(90, 10);
    // 4 columns at 0.25 mm and 2 rows at 0.5 mm are the same 1 mm: 45 degrees, not 26.6 in pixels
    expect(angleDegrees([4, 0], [0, 0], [4, 2], spacing)).toBeCloseTo(45, 10);
  });

  it("computes polygon areas by the shoelace formula", () => {
    const square: [number, number][] = [[0, 0], [10, 0], [10, 10], [0, 10]];

    expect(polygonAreaPx(square)).toBe(100);
    expect(polygonAreaMm2(square, spacing)).toBe(12.5);
  });
});

describe("closeContour", () => {
  it("drops a repeated first point and consecutive duplicates", () => {
    expect(closeContour([[0, 0], [5, 0], [5, 0], [5, 5], [0, 0]])).toEqual([[0, 0], [5, 0], [5, 5]]);
  });

  it("refuses fewer than three distinct points or no area", () => {
    expect(closeContour([[0, 0], [1, 1], [0, 0]])).toBeNull();
    expect(closeContour([[0, 0], [1, 1], [2, 2]])).toBeNull();
  });
});

describe("run-length masks", () => {
  it("alternates background and foreground starting with background", () => {
    expect(encodeRle([0, 0, 1, 1, 1, 0])).toEqual([2, 3, 1]);
    expect(encodeRle([1, 1, 0])).toEqual([0, 2, 1]);
    expect(maskAreaPx([2, 3, 1])).toBe(3);
  });

  it("round-trips and refuses runs that do not cover the image", () => {
    const mask = Uint8Array.from([0, 1, 1, 0, 0, 1]);

    expect(Array.from(decodeRle(encodeRle(mask), mask.length))).toEqual(Array.from(mask));
    expect(() => decodeRle([2, 3], 6)).toThrow("cover 5 pixels");
  });
});
