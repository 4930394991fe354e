"""DICOM SR of an export's measurements: one Comprehensive SR per item, a TID 1500 Measurement
Report with one measurement group per measured field. Pure module: no Django, no database.

- number fields: TID 1501 group, the value in the field's unit as UCUM (`UCUM_UNITS`; another unit
  becomes a UCUM annotation, `{unit}`), referencing the item's image when the item is one image;
- lengths (length_mm, "mm") and angles (degrees, "deg"): TID 1501 group, the measurement
  referencing the drawn line as SCOORD POLYLINE on its image and frame;
- contour and freehand areas (area_mm2, "mm2"): TID 1410 planar ROI, the region the closed
  contour (SCOORD POLYLINE) on its image and frame;
- brush mask areas (area_mm2): TID 1410 planar ROI, the region the segment of the export's SEG.
Sizes in pixels only (an uncalibrated image) stay in the CSV and JSON.

Coordinates: answers give pixel indexes (x = column, y = row; a pixel's centre at integers, as the
consensus rasterizer reads them); SCOORD puts the top-left corner of the image at 0, 0, so a
point moves by half a pixel on the way out.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import highdicom as hd
import numpy as np
from pydicom import Dataset
from pydicom.sr.codedict import codes

from .dicom_common import Producer, SourceReader, concept, is_multiframe
from .errors import ExportError
from .segmentation import SegmentReference

SR_SERIES_NUMBER = 9002
IMAGING_PROCEDURE = hd.sr.CodedConcept("363679005", "SCT", "Imaging")
HALF_PIXEL = 0.5
UCUM_UNITS = {
    "": ("1", "no units"), "1": ("1", "no units"), "%": ("%", "percent"), "percent": ("%", "percent"),
    "mm": ("mm", "millimeter"), "cm": ("cm", "centimeter"), "m": ("m", "meter"),
    "mm2": ("mm2", "square millimeter"), "mm²": ("mm2", "square millimeter"),
    "cm2": ("cm2", "square centimeter"), "cm²": ("cm2", "square centimeter"),
    "m2": ("m2", "square meter"), "m²": ("m2", "square meter"),
    "ml": ("mL", "milliliter"), "mL": ("mL", "milliliter"), "l": ("L", "liter"), "L": ("L", "liter"),
    "ml/m2": ("mL/m2", "milliliter per square meter"), "mL/m2": ("mL/m2", "milliliter per square meter"),
    "ml/m²": ("mL/m2", "milliliter per square meter"), "mL/m²": ("mL/m2", "milliliter per square meter"),
    "ms": ("ms", "millisecond"), "s": ("s", "second"),
    "bpm": ("/min", "per minute"), "/min": ("/min", "per minute"), "beats/min": ("/min", "per minute"),
    "m/s": ("m/s", "meter per second"), "cm/s": ("cm/s", "centimeter per second"),
    "mmHg": ("mm[Hg]", "millimeter of mercury"), "mm[Hg]": ("mm[Hg]", "millimeter of mercury"),
    "g": ("g", "gram"), "kg": ("kg", "kilogram"), "g/m2": ("g/m2", "gram per square meter"),
    "deg": ("deg", "degree"), "°": ("deg", "degree"), "degrees": ("deg", "degree"),
}
MILLIMETRE, SQUARE_MILLIMETRE, DEGREE = codes.UCUM.Millimeter, codes.UCUM.SquareMillimeter, codes.UCUM.Degree


def ucum(unit: str | None) -> hd.sr.CodedConcept:
    """A schema field's unit as a UCUM code."""
    unit = (unit or "").strip()
    if unit in UCUM_UNITS:
        value, meaning = UCUM_UNITS[unit]
        return hd.sr.CodedConcept(value, "UCUM", meaning)
    # Not one we know: a UCUM annotation (a unity with the unit's name), never a wrong unit.
    text = "".join(character for character in unit if character.isascii() and character.isprintable()
                   and character not in "{}") or "unit"
    return hd.sr.CodedConcept(f"{{{text}}}", "UCUM", unit[:64])


def _measured(record: dict, definition: dict):
    if not record["label"]:
        return
    for field in definition["fields"]:
        value = record["label"].get(field["key"])
        if _is_measured(field["kind"], value):
            yield field, value


def _is_measured(kind: str, value) -> bool:
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, dict) and ((kind == "length" and "length_mm" in value)
                                        or (kind == "angle" and "degrees" in value)
                                        or (kind in {"contour", "freehand", "brush_mask"} and "area_mm2" in value))


def measurement_report(record: dict, definition: dict, *, source: SourceReader, item_image: Callable[[], str | None],
                       segments: Mapping[tuple[int, str], SegmentReference], producer: Producer,
                       instance_number: int) -> hd.sr.ComprehensiveSR | None:
    """The item's measurements as an SR in its study, or None when it has none. `item_image()`
    names an image of the item, to take patient and study from when no measurement names one.
    Raises ExportError naming the item and field."""
    groups, evidence = [], {}

    def image(uid: str, where: str) -> Dataset:
        if uid not in evidence:
            try:
                evidence[uid] = source(uid)
            except ExportError as error:
                raise ExportError(f"{where}: {error}") from None
        return evidence[uid]

    for field, value in _measured(record, definition):
        where = f"item {record['item']}, field {field['key']}"
        tracking = hd.sr.TrackingIdentifier(uid=producer.uid("measurement", record["item"], field["key"]),
                                            identifier=f"item {record['item']} {field['key']}")
        try:
            if field["kind"] == "number":
                groups.append(_number_group(record, field, value, tracking, image, where))
            elif field["kind"] in {"length", "angle"}:
                groups.append(_line_group(record, field, value, tracking, image(_instance(record, value, where),
                                                                                 where)))
            else:
                segment = segments.get((record["item"], field["key"]))
                if "points" in value or segment is None or segment.seg_frame is None:
                    segment = None  # a contour is its own region; an empty mask has no SEG frame
                groups.append(_area_group(field, value, tracking, image(_instance(record, value, where), where),
                                          segment))
                if segment is not None:
                    evidence[segment.seg_sop_instance_uid] = _seg_evidence(segment)
        except (ValueError, TypeError) as error:
            raise ExportError(f"{where}: {error}") from error
    if not groups:
        return None
    if not evidence:
        uid = item_image()
        if not uid:
            raise ExportError(f"item {record['item']}: no image to place its measurements in a study")
        image(uid, f"item {record['item']}")
    first = next(iter(evidence.values()))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device, observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=producer.uid("observer"), name="CardioCrowd consensus", manufacturer_name=producer.manufacturer,
                model_name=producer.model))),
        procedure_reported=IMAGING_PROCEDURE, imaging_measurements=groups)
    try:
        sr = hd.sr.ComprehensiveSR(
            evidence=list(evidence.values()), content=report,
            series_instance_uid=producer.uid("sr-series", first.StudyInstanceUID), series_number=SR_SERIES_NUMBER,
            sop_instance_uid=producer.uid("sr", record["item"]), instance_number=instance_number,
            manufacturer=producer.manufacturer, is_complete=True, is_final=True)
    except (ValueError, TypeError, AttributeError) as error:
        raise ExportError(f"item {record['item']}: SR: {error}") from error
    _drop_segment_numbers_beside_frames(sr)
    return sr


def _drop_segment_numbers_beside_frames(dataset: Dataset) -> None:
    """highdicom names both the SEG frame and its segment in a Referenced Segmentation Frame; the
    segment number is Type 1C in an SR image reference, present only when no frame is named, and the frame
    already implies its segment."""
    for element in dataset:
        if element.VR != "SQ":
            continue
        for item in element.value:
            if (element.keyword == "ReferencedSOPSequence" and "ReferencedFrameNumber" in item
                    and "ReferencedSegmentNumber" in item):
                del item.ReferencedSegmentNumber
            _drop_segment_numbers_beside_frames(item)


def _instance(record: dict, value: dict, where: str) -> str:
    uid = value.get("instance") or record["instance_uid"]
    if not uid:
        raise ExportError(f"{where}: the label names no image")
    return uid


def _frames(source: Dataset, frame: int | None) -> list[int] | None:
    return [int(frame or 1)] if is_multiframe(source) else None


def _number_group(record: dict, field: dict, value: float, tracking, image, where: str):
    referenced = None
    if record["instance_uid"]:  # the item is one image: the measurement is of it
        source = image(record["instance_uid"], where)
        frames = None
        if is_multiframe(source) and record["first_frame"]:
            frames = list(range(record["first_frame"], (record["last_frame"] or record["first_frame"]) + 1))
        referenced = [hd.sr.SourceImageForMeasurement(source.SOPClassUID, source.SOPInstanceUID, frames)]
    measurement = hd.sr.Measurement(name=concept(field), value=round(float(value), 4), unit=ucum(field.get("unit")),
                                    referenced_images=referenced)
    return hd.sr.MeasurementsAndQualitativeEvaluations(tracking_identifier=tracking, measurements=[measurement])


def _line_group(record: dict, field: dict, value: dict, tracking, source: Dataset):
    size, unit = (value["length_mm"], MILLIMETRE) if field["kind"] == "length" else (value["degrees"], DEGREE)
    line = hd.sr.CoordinatesForMeasurement(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=_scoord(value["points"]),
        source_image=hd.sr.SourceImageForRegion(source.SOPClassUID, source.SOPInstanceUID,
                                                _frames(source, value.get("frame"))))
    measurement = hd.sr.Measurement(name=concept(field), value=round(float(size), 4), unit=unit,
                                    referenced_coordinates=[line])
    return hd.sr.MeasurementsAndQualitativeEvaluations(tracking_identifier=tracking, measurements=[measurement])


def _area_group(field: dict, value: dict, tracking, source: Dataset, segment: SegmentReference | None):
    area = hd.sr.Measurement(name=codes.SCT.Area, value=round(float(value["area_mm2"]), 4), unit=SQUARE_MILLIMETRE)
    frames = _frames(source, value.get("frame"))
    if "points" in value:
        points = _scoord(value["points"])
        region = hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                                   graphic_data=np.vstack([points, points[:1]]),  # closed: ends where it starts
                                   source_image=hd.sr.SourceImageForRegion(source.SOPClassUID, source.SOPInstanceUID,
                                                                           frames))
        return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking, referenced_region=region, finding_type=concept(field), measurements=[area])
    if segment is None:  # an empty mask: nothing to point at but the image
        area = hd.sr.Measurement(name=codes.SCT.Area, value=round(float(value["area_mm2"]), 4),
                                 unit=SQUARE_MILLIMETRE, referenced_images=[
                                     hd.sr.SourceImageForMeasurement(source.SOPClassUID, source.SOPInstanceUID,
                                                                     frames)])
        return hd.sr.MeasurementsAndQualitativeEvaluations(tracking_identifier=tracking, finding_type=concept(field),
                                                           measurements=[area])
    frame = hd.sr.ReferencedSegmentationFrame(
        sop_class_uid=segment.seg_sop_class_uid, sop_instance_uid=segment.seg_sop_instance_uid,
        frame_number=segment.seg_frame, segment_number=segment.segment_number,
        source_image=hd.sr.SourceImageForSegmentation(source.SOPClassUID, source.SOPInstanceUID, frames))
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking, referenced_segment=frame, finding_type=concept(field), measurements=[area])


def _scoord(points: list) -> np.ndarray:
    return np.asarray(points, dtype=np.float64).reshape(-1, 2) + HALF_PIXEL


def _seg_evidence(segment: SegmentReference) -> Dataset:
    """What the SR's evidence lists of a SEG of the same export (it is written beside the SR)."""
    seg = Dataset()
    seg.StudyInstanceUID, seg.SeriesInstanceUID = segment.study_uid, segment.seg_series_uid
    seg.SOPClassUID, seg.SOPInstanceUID = segment.seg_sop_class_uid, segment.seg_sop_instance_uid
    return seg
