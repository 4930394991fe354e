"""DICOM SEG of an export's region labels (contour, freehand and brush_mask results): one
Segmentation per labeled source instance, one segment per (item, field), each on the labeled frame.
Pure module: no Django, no database.

Contours are rasterized on the image grid the way the consensus engine does
(labeling/consensus/masks.py: a pixel is inside when its centre is), brush masks decoded from
their run lengths. The SEG references the de-identified source instance by the UIDs read from its
stored file, and the labeled frame of a multi-frame source by its number.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom import Dataset
from pydicom.sr.codedict import codes

from labeling.consensus.masks import answer_mask

from .dicom_common import Producer, concept, frame_count, is_multiframe
from .errors import ExportError

SEGMENT_KINDS = {"contour", "freehand", "brush_mask"}
SEG_SERIES_NUMBER = 9001  # high, so export series sort after the acquired ones
CONTENT_LABEL = "CONSENSUS"
# highdicom writes a SEG of an image without a frame of reference only for single-frame images,
# while a cine (ultrasound, XA) has frames and no frame of reference. Such a source is shown to
# highdicom as a single-frame Secondary Capture (same grid, same UIDs) and the references are put
# right afterwards: its real SOP Class, and the labeled frame's number in each SEG frame's
# Derivation Image Sequence (PS3.3 C.8.20.2: how a SEG without a frame of reference names its
# source frames).
STAND_IN_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"


@dataclass(frozen=True)
class SegmentLabel:
    """One region label of one item, to become one segment."""

    item: int
    field: dict  # the schema field
    value: dict  # the result's value: frame, points or rows/columns/rle, instance
    instance: str  # SOP Instance UID of the source image
    frame: int

    @property
    def key(self) -> str:
        return self.field["key"]


@dataclass(frozen=True)
class SegmentReference:
    """Where a region label went: the SEG, its segment and frame, and the source it refers to
    (what an SR measurement of the region points at)."""

    seg_sop_class_uid: str
    seg_sop_instance_uid: str
    seg_series_uid: str
    study_uid: str
    segment_number: int
    seg_frame: int | None  # None: an empty mask, for which the SEG has no frame
    source_sop_class_uid: str
    source_uid: str
    source_frame: int | None  # None: a single-frame source


def region_labels(document: dict) -> dict[str, list[SegmentLabel]]:
    """The region labels of an export's accepted items, grouped by source instance UID, items in
    order and fields in schema order."""
    definitions = {(schema["name"], schema["version"]): schema["definition"] for schema in document["schemas"]}
    grouped: dict[str, list[SegmentLabel]] = {}
    for record in document["items"]:
        for field, value in _region_values(record, definitions):
            instance = value.get("instance") or record["instance_uid"]
            if not instance:
                raise ExportError(f"item {record['item']}, field {field['key']}: the label names no image")
            label = SegmentLabel(item=record["item"], field=field, value=value, instance=instance,
                                 frame=int(value.get("frame", 1)))
            grouped.setdefault(instance, []).append(label)
    return grouped


def _region_values(record: dict, definitions: dict) -> Iterator[tuple[dict, dict]]:
    schema = record["provenance"]["schema"]
    if not record["label"] or schema is None:
        return
    for field in definitions[(schema["name"], schema["version"])]["fields"]:
        value = record["label"].get(field["key"])
        if field["kind"] in SEGMENT_KINDS and isinstance(value, dict):
            yield field, value


def build_segmentation(source: Dataset, labels: list[SegmentLabel], producer: Producer, *,
                       instance_number: int) -> tuple[hd.seg.Segmentation, list[SegmentReference]]:
    """A binary SEG of `labels` (all on `source`), segment n being labels[n - 1]. Raises
    ExportError naming the item and field whose label does not fit the image."""
    frames, rows, columns = frame_count(source), int(source.Rows), int(source.Columns)
    masks = [_mask(label, rows, columns, frames) for label in labels]
    has_geometry = "FrameOfReferenceUID" in source
    # With a frame of reference and several frames, highdicom places each plane by the source
    # frame it is given at: one plane per source frame, the empty ones left out of the SEG.
    per_source_frame = has_geometry and frames > 1
    pixels = np.zeros((frames if per_source_frame else 1, rows, columns, len(labels)), np.uint8)
    for number, (label, mask) in enumerate(zip(labels, masks, strict=True)):
        pixels[label.frame - 1 if per_source_frame else 0, :, :, number] = mask
    stand_in = not has_geometry and is_multiframe(source)
    shown = _single_frame_view(source) if stand_in else source
    seg_uid = producer.uid("seg", source.SOPInstanceUID)
    series_uid = producer.uid("seg-series", source.StudyInstanceUID)
    try:
        seg = hd.seg.Segmentation(
            source_images=[shown], pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=[_description(number, label, producer)
                                  for number, label in enumerate(labels, start=1)],
            series_instance_uid=series_uid, series_number=SEG_SERIES_NUMBER, sop_instance_uid=seg_uid,
            instance_number=instance_number, manufacturer=producer.manufacturer,
            manufacturer_model_name=producer.model, software_versions=producer.software_version,
            device_serial_number=producer.device_serial_number, content_label=CONTENT_LABEL,
            content_description="Consensus labels", omit_empty_frames=per_source_frame)
    except (ValueError, TypeError, AttributeError) as error:
        raise ExportError(f"SEG of image {source.SOPInstanceUID} (items "
                          f"{', '.join(sorted({str(label.item) for label in labels}))}): {error}") from error
    if stand_in:
        _refer_to_source_frames(seg, source, labels)
    if "FrameOfReferenceUID" not in seg and "PatientOrientation" not in seg:
        # Type 2C without a frame of reference; the SEG lies on the source's grid, so it is the source's.
        seg.PatientOrientation = source.get("PatientOrientation", "")
    return seg, _references(seg, source, labels)


def _mask(label: SegmentLabel, rows: int, columns: int, frames: int) -> np.ndarray:
    where = f"item {label.item}, field {label.key}"
    if not 1 <= label.frame <= frames:
        raise ExportError(f"{where}: frame {label.frame} is outside 1..{frames} of image {label.instance}")
    try:
        return answer_mask(label.value, rows, columns)
    except (ValueError, KeyError, TypeError) as error:
        raise ExportError(f"{where}: {error}") from error


def _description(number: int, label: SegmentLabel, producer: Producer) -> hd.seg.SegmentDescription:
    category = label.field.get("category")
    return hd.seg.SegmentDescription(
        segment_number=number, segment_label=(label.field.get("label") or label.key)[:64],
        segmented_property_category=concept({"key": "category", **category}) if isinstance(category, dict)
        else codes.SCT.AnatomicalStructure,
        segmented_property_type=concept(label.field),
        # The consensus of crowd drawings is one of the drawings (the medoid) or their fusion.
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        tracking_uid=producer.uid("segment", label.item, label.key), tracking_id=f"item {label.item} {label.key}")


def _single_frame_view(source: Dataset) -> Dataset:
    view = copy.deepcopy(source)  # a header without pixel data: small
    del view.NumberOfFrames
    view.SOPClassUID = STAND_IN_SOP_CLASS
    return view


def _refer_to_source_frames(seg: Dataset, source: Dataset, labels: list[SegmentLabel]) -> None:
    shared = seg.SharedFunctionalGroupsSequence[0] if seg.get("SharedFunctionalGroupsSequence") else Dataset()
    for frame in seg.PerFrameFunctionalGroupsSequence:
        number = _segment_number(seg, frame)
        # highdicom shares one derivation item between frames (or puts it in the shared groups):
        # each frame names its own source frame, so each gets its own copy.
        frame.DerivationImageSequence = copy.deepcopy(_group(seg, frame, "DerivationImageSequence"))
        frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber = labels[number - 1].frame
    if "DerivationImageSequence" in shared:
        del shared.DerivationImageSequence
    _replace_class(seg, source.SOPInstanceUID, source.SOPClassUID)


def _group(seg: Dataset, frame: Dataset, keyword: str):
    """A functional group of one SEG frame: its own, or the one all frames share."""
    if keyword in frame:
        return frame[keyword].value
    return seg.SharedFunctionalGroupsSequence[0][keyword].value


def _segment_number(seg: Dataset, frame: Dataset) -> int:
    return int(_group(seg, frame, "SegmentIdentificationSequence")[0].ReferencedSegmentNumber)


def _replace_class(dataset: Dataset, instance_uid: str, sop_class_uid: str) -> None:
    """Every reference to the source names its real SOP Class, not the stand-in's."""
    if (dataset.get("ReferencedSOPInstanceUID") == instance_uid
            and dataset.get("ReferencedSOPClassUID") == STAND_IN_SOP_CLASS):
        dataset.ReferencedSOPClassUID = sop_class_uid
    for element in dataset:
        if element.VR == "SQ":
            for item in element.value:
                _replace_class(item, instance_uid, sop_class_uid)


def _references(seg: Dataset, source: Dataset, labels: list[SegmentLabel]) -> list[SegmentReference]:
    """Where each label went, from the SEG's own per-frame records (segment and source frame)."""
    placed = {}
    for number, frame in enumerate(seg.PerFrameFunctionalGroupsSequence, start=1):
        reference = _group(seg, frame, "DerivationImageSequence")[0].SourceImageSequence[0]
        placed[(_segment_number(seg, frame), int(reference.get("ReferencedFrameNumber") or 1))] = number
    multiframe = is_multiframe(source)
    return [SegmentReference(
        seg_sop_class_uid=seg.SOPClassUID, seg_sop_instance_uid=seg.SOPInstanceUID,
        seg_series_uid=seg.SeriesInstanceUID, study_uid=seg.StudyInstanceUID, segment_number=number,
        seg_frame=placed.get((number, label.frame if multiframe else 1)), source_sop_class_uid=source.SOPClassUID,
        source_uid=source.SOPInstanceUID, source_frame=label.frame if multiframe else None)
        for number, label in enumerate(labels, start=1)]
