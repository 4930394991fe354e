import { describeSeries, instancesFromQido, seriesFromQido, shortUid } from "./dicom";

const ui = (value: string) => ({ vr: "UI", Value: [value] });

describe("QIDO-RS rows", () => {
  it("lists series with their study, modality, number and image count", () => {
    const body = [
      { "0020000D": ui("2.25.1"), "0020000E": ui("2.25.11"), "00080060": { vr: "CS", Value: ["US"] },
        "00200011": { vr: "IS", Value: ["3"] }, "00201209": { vr: "IS", Value: [1] } },
      { "0020000D": ui("2.25.2"), "0020000E": ui("2.25.22"), "00201209": { vr: "IS", Value: [20] } },
      { "0020000D": ui("2.25.3") },
    ];

    expect(seriesFromQido(body)).toEqual([
      { study_uid: "2.25.1", series_uid: "2.25.11", modality: "US", number: 3, instances: 1 },
      { study_uid: "2.25.2", series_uid: "2.25.22", modality: "", number: null, instances: 20 },
    ]);
    expect(seriesFromQido({ detail: "No such project." })).toEqual([]);
  });

  it("builds the viewer's instance references on the platform's own DICOMweb", () => {
    const body = [{ "0020000D": ui("2.25.1"), "0020000E": ui("2.25.11"), "00080018": ui("2.25.111"),
      "00280008": { vr: "IS", Value: ["120"] } }, { "0020000D": ui("2.25.1"), "0020000E": ui("2.25.11"), "00080018": ui("2.25.112") }];

    expect(instancesFromQido(body, "http://host:8000", "echo")).toEqual([
      { study_uid: "2.25.1", series_uid: "2.25.11", sop_instance_uid: "2.25.111", frames: 120, frame_time_ms: null,
        url: "http://host:8000/dicomweb/echo/studies/2.25.1/series/2.25.11/instances/2.25.111" },
      { study_uid: "2.25.1", series_uid: "2.25.11", sop_instance_uid: "2.25.112", frames: 1, frame_time_ms: null,
        url: "http://host:8000/dicomweb/echo/studies/2.25.1/series/2.25.11/instances/2.25.112" },
    ]);
  });

  it("describes a series in one line", () => {
    expect(shortUid("2.25.123456789012345678")).toBe("…789012345678");
    expect(shortUid("2.25.1")).toBe("2.25.1");
    expect(describeSeries({ study_uid: "s", series_uid: "2.25.1", modality: "MR", number: 4, instances: 20 }))
      .toBe("MR #4 · 20 images · 2.25.1");
  });
});
