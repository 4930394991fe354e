import { framesPerSecond, inlinePaletteValues } from "./cornerstone";

describe("inlinePaletteValues", () => {
  it("turns an InlineBinary lookup table into the 16-bit little-endian values Cornerstone reads", () => {
    const words = Uint8Array.from([0x00, 0x00, 0x01, 0x00, 0xff, 0xff, 0x34, 0x12]);
    const metadata: Record<string, { vr?: string; Value?: unknown[]; InlineBinary?: string }> = {
      "00281201": { vr: "OW", InlineBinary: btoa(String.fromCharCode(...words)) },
      "00281202": { vr: "OW", Value: [7] },
    };

    inlinePaletteValues(metadata);

    expect(metadata["00281201"].Value).toEqual([0, 1, 65535, 0x1234]);
    expect(metadata["00281202"].Value).toEqual([7]);
  });
});

describe("framesPerSecond", () => {
  it("reads FrameTime first, then CineRate", () => {
    expect(framesPerSecond({}, 33.3333)).toBeCloseTo(30, 3);
    expect(framesPerSecond({ "00181063": { Value: [40] } }, null)).toBe(25);
    expect(framesPerSecond({ "00180040": { Value: [50] } }, null)).toBe(50);
    expect(framesPerSecond({}, null)).toBeNull();
  });
});
