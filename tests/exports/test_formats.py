"""The pure writers of an export: CSV cells and columns, UCUM units, and SEG building on a real
echo header (no database)."""
import csv
import io
import json

import numpy as np
import pydicom
import pytest

from exports.dicom_common import Producer, complete_header, concept
from exports.errors import ExportError
from exports.measurements import ucum
from exports.segmentation import SegmentLabel, build_segmentation
from exports.tables import ITEM_COLUMNS, _cell, csv_bytes, field_columns, json_bytes
from labeling.consensus.masks import encode_rle
from tests.conftest import ECHO_CINE


@pytest.mark.parametrize(("value", "cell"), [
    (None, ""), (True, "true"), (False, "false"), (56.0, "56.0"), (3, "3"), ("A4C", "A4C"),
    (["MR", "AR"], "MR;AR"), ([], ""), ([[1.5, 2.0], [3.0, 4.0]], "[[1.5,2.0],[3.0,4.0]]"),
    ({"ED": 1, "ES": 14}, '{"ED":1,"ES":14}'),
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("-1+2", "'-1+2"), ("@SUM(A1)", "'@SUM(A1)"),
    (-5.0, "-5.0"),  # free text that a spreadsheet would run is quoted; numbers are not
])
def test_a_cell_is_text_lists_of_options_joined_and_shapes_as_json(value, cell):
    assert _cell(value) == cell


@pytest.mark.parametrize(("unit", "code", "meaning"), [
    ("%", "%", "percent"), ("mm", "mm", "millimeter"), ("mL", "mL", "milliliter"), ("ml", "mL", "milliliter"),
    ("ml/m²", "mL/m2", "milliliter per square meter"), ("bpm", "/min", "per minute"),
    ("mmHg", "mm[Hg]", "millimeter of mercury"), ("cm2", "cm2", "square centimeter"), (None, "1", "no units"),
    ("", "1", "no units"), ("Hounsfield {HU}", "{Hounsfield HU}", "Hounsfield {HU}"),
])
def test_a_unit_becomes_ucum_or_a_ucum_annotation(unit, code, meaning):
    concept = ucum(unit)

    assert (concept.value, concept.scheme_designator, concept.meaning) == (code, "UCUM", meaning)


@pytest.mark.parametrize(("field", "expected"), [
    ({"key": "lvef", "label": "LVEF", "code": {"value": "10230-1", "scheme": "LN", "meaning": "LV EF"}},
     ("10230-1", "LN", "LV EF")),
    ({"key": "lv", "label": "LV endocardium"}, ("lv", "99CARDIOCROWD", "LV endocardium")),
    ({"key": "septum_thickness_end_diastole"}, ("septum_thickness_end_diastole", "99CARDIOCROWD",
                                                "septum_thickness_end_diastole")),
])
def test_a_field_is_named_by_its_code_or_a_local_one(field, expected):
    named = concept(field)

    assert (named.value, named.scheme_designator, named.meaning) == expected


SCHEMAS = [{"name": "echo", "version": 1, "definition": {"fields": [
    {"key": "view", "kind": "single_choice", "options": [{"value": "A4C"}, {"value": "PLAX"}]},
    {"key": "phases", "kind": "frame_selection", "labels": ["ED", "ES"]},
    {"key": "note", "kind": "text"},
]}}, {"name": "echo", "version": 2, "definition": {"fields": [
    {"key": "view", "kind": "single_choice", "options": [{"value": "A4C"}, {"value": "PLAX"}]},
    {"key": "valves", "kind": "multiple_choice", "options": [{"value": "MR"}, {"value": "AR"}]},
]}}]


def test_columns_follow_the_schemas_and_a_shared_key_is_one_set_of_columns():
    assert [name for name, _ in field_columns(SCHEMAS)] == [
        "label.view", "soft.view.share", "soft.view.votes", "soft.view.calibrated", "soft.view.p.A4C",
        "soft.view.p.PLAX", "label.phases.ED", "label.phases.ES", "label.phases.instance", "soft.phases.share",
        "soft.phases.votes",
        "label.note", "label.valves", "soft.valves.share", "soft.valves.votes", "soft.valves.p.MR",
        "soft.valves.p.AR"]


def test_csv_and_json_round_trip_a_document():
    record = {
        "item": 7, "status": "accepted", "rejected": False, "decided_at": "2026-01-01T00:00:00+00:00",
        "study_uid": "2.25.1", "series_uid": "2.25.2", "instance_uid": None, "first_frame": None, "last_frame": None,
        "label": {"view": "A4C", "phases": {"ED": 1, "ES": 14, "instance": "2.25.3"}, "valves": ["MR", "AR"]},
        "soft": {"stage": "Crowd", "method": "majority_vote", "answers": 3, "confidence": 0.6667, "fields": {
            "view": {"value": "A4C", "share": 0.6667, "votes": 3, "distribution": {"A4C": 0.6667, "PLAX": 0.3333}}}},
        "provenance": {"schema": {"name": "echo", "version": 1}, "consensus": None, "workers": 3,
                       "reviewers": [{"username": "e1", "verdict": "accept"}, {"username": "e2", "verdict": "correct"}],
                       "stage_path": [{"stage": "Crowd"}, {"stage": "Review"}]},
    }
    document = {"format": "cardiocrowd-labels", "schemas": SCHEMAS, "items": [record]}

    [row] = list(csv.DictReader(io.StringIO(csv_bytes(document).decode())))

    assert json.loads(json_bytes(document)) == document
    assert list(row)[:len(ITEM_COLUMNS)] == ITEM_COLUMNS
    assert {key: row[key] for key in ("item", "rejected", "schema", "workers", "reviewers", "stage_path",
                                      "label.view", "soft.view.p.PLAX", "label.phases.ES", "label.phases.instance",
                                      "label.valves", "soft.valves.share", "consensus_method", "label.note")} == {
        "item": "7", "rejected": "false", "schema": "echo", "workers": "3", "reviewers": "e1:accept;e2:correct",
        "stage_path": "Crowd > Review", "label.view": "A4C", "soft.view.p.PLAX": "0.3333", "label.phases.ES": "14",
        "label.phases.instance": "2.25.3", "label.valves": "MR;AR", "soft.valves.share": "", "consensus_method": "",
        "label.note": ""}


@pytest.fixture(scope="module")
def echo_header() -> pydicom.Dataset:
    return complete_header(pydicom.dcmread(ECHO_CINE, stop_before_pixels=True))


def brush(frame: int, mask: np.ndarray, item: int = 1) -> SegmentLabel:
    value = {"frame": frame, "rows": mask.shape[0], "columns": mask.shape[1], "rle": encode_rle(mask)}
    return SegmentLabel(item=item, field={"key": "myocardium", "kind": "brush_mask", "label": "Myocardium"},
                        value=value, instance="2.25.1", frame=frame)


@pytest.mark.filterwarnings("ignore:.*unlikely to represent the intended person name")  # the raw file's name
def test_an_empty_mask_still_gets_its_segment_and_frame(echo_header):
    empty = np.zeros((480, 640), bool)

    seg, [reference] = build_segmentation(echo_header, [brush(5, empty)], Producer(uid_seed="t"), instance_number=1)

    assert seg.NumberOfFrames == 1 and reference.seg_frame == 1 and reference.source_frame == 5
    assert not seg.pixel_array.any()


@pytest.mark.parametrize(("label", "message"), [
    (brush(121, np.ones((480, 640), bool), item=4), "item 4, field myocardium: frame 121 is outside 1..120 of "
                                                    "image 2.25.1"),
    (brush(1, np.ones((48, 64), bool), item=5), "item 5, field myocardium: the mask is 48×64, the image 480×640"),
])
def test_a_label_that_does_not_fit_its_image_is_refused_by_name(echo_header, label, message):
    with pytest.raises(ExportError) as refused:
        build_segmentation(echo_header, [label], Producer(uid_seed="t"), instance_number=1)

    assert str(refused.value) == message


def test_uids_are_the_same_for_the_same_export_and_differ_between_exports():
    first, again, other = Producer(uid_seed="export:1"), Producer(uid_seed="export:1"), Producer(uid_seed="export:2")

    assert first.uid("seg", "2.25.9") == again.uid("seg", "2.25.9") != other.uid("seg", "2.25.9")
    assert first.uid("seg", "2.25.9").startswith("2.25.") and len(first.uid("seg", "2.25.9")) <= 64
