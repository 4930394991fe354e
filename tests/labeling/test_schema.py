import math

import pytest

from labeling.schema import AnswerError, ImageGeometry, SchemaError, polygon_area, validate_answer, validate_schema

SCHEMA = validate_schema({"fields": [
    {"key": "view", "kind": "single_choice", "required": True, "options": [
        {"value": "A4C", "label": "Apical 4-chamber", "shortcut": "4"},
        {"value": "PLAX", "label": "Parasternal long axis", "shortcut": "p"}]},
    {"key": "lvef", "kind": "number", "unit": "%", "min": 5, "max": 90, "show_if": {"field": "view", "in": ["A4C"]}},
    {"key": "valves", "kind": "multiple_choice", "max": 2, "options": [
        {"value": "MR", "label": "Mitral regurgitation"}, {"value": "AR", "label": "Aortic regurgitation"},
        {"value": "TR", "label": "Tricuspid regurgitation"}]},
    {"key": "rheumatic", "kind": "yes_no_unsure"},
    {"key": "lvid", "kind": "length"},
    {"key": "angle", "kind": "angle"},
    {"key": "apex", "kind": "points", "min": 1, "max": 1},
    {"key": "box", "kind": "bounding_box"},
    {"key": "endocardium", "kind": "contour"},
    {"key": "mask", "kind": "brush_mask"},
    {"key": "phases", "kind": "frame_selection", "labels": ["ED", "ES"]},
    {"key": "comment", "kind": "text", "max_length": 20},
]})
ECHO_UID, MR_PHASE_2 = "2.25.1", "2.25.2"
ECHO = {ECHO_UID: ImageGeometry(rows=480, columns=640, frames=120, spacing_mm=(0.5, 0.5))}
UNCALIBRATED = {"2.25.9": ImageGeometry(rows=100, columns=100, frames=1)}
MR_PHASES = {"2.25.1": ImageGeometry(rows=256, columns=256, spacing_mm=(1.4, 1.4)),
             MR_PHASE_2: ImageGeometry(rows=256, columns=256, spacing_mm=(1.4, 1.4))}


def test_a_full_answer_is_normalized_with_sizes_in_millimetres():
    answer = {
        "view": "A4C", "lvef": 55, "valves": ["MR"], "rheumatic": "no",
        "lvid": {"frame": 3, "points": [[100, 100], [130, 140]]},
        "angle": {"frame": 3, "points": [[110, 100], [100, 100], [100, 90]]},
        "apex": {"frame": 3, "points": [[320, 60]]},
        "box": {"frame": 1, "x": 10, "y": 10, "width": 20, "height": 30},
        "endocardium": {"frame": 14, "points": [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]},
        "mask": {"frame": 14, "rows": 480, "columns": 640, "rle": [1000, 200, 640 * 480 - 1200]},
        "phases": {"ED": 1, "ES": 14}, "comment": "good image",
    }

    result = validate_answer(SCHEMA, answer, ECHO)

    assert result["lvef"] == 55.0
    assert result["lvid"]["length_mm"] == 25.0  # 50 px × 0.5 mm
    assert result["angle"]["degrees"] == 90.0
    assert result["endocardium"]["points"] == [[0, 0], [10, 0], [10, 10], [0, 10]]
    assert result["endocardium"]["area_mm2"] == 25.0  # 100 px² × 0.25 mm²
    assert result["mask"]["area_mm2"] == 50.0  # 200 px
    assert result["phases"] == {"ED": 1, "ES": 14, "instance": ECHO_UID}
    assert all(result[key]["instance"] == ECHO_UID for key in ("lvid", "box", "endocardium", "mask"))


def test_without_calibration_sizes_stay_in_pixels():
    result = validate_answer(SCHEMA, {"view": "PLAX", "lvid": {"points": [[0, 0], [30, 40]]}}, UNCALIBRATED)

    assert result["lvid"] == {"frame": 1, "points": [[0.0, 0.0], [30.0, 40.0]], "length_px": 50.0,
                              "instance": "2.25.9"}


def test_on_an_item_of_several_images_a_spatial_answer_names_its_image():
    contour = {"points": [[10, 10], [60, 10], [60, 60]]}

    result = validate_answer(SCHEMA, {"view": "A4C", "endocardium": {**contour, "instance": MR_PHASE_2}}, MR_PHASES)

    assert result["endocardium"]["instance"] == MR_PHASE_2
    assert result["endocardium"]["area_mm2"] == round(1250 * 1.4 * 1.4, 3)
    with pytest.raises(AnswerError, match="endocardium: this item has several images"):
        validate_answer(SCHEMA, {"view": "A4C", "endocardium": contour}, MR_PHASES)
    with pytest.raises(AnswerError, match="endocardium: instance '2.25.7' is not an image of this item"):
        validate_answer(SCHEMA, {"view": "A4C", "endocardium": {**contour, "instance": "2.25.7"}}, MR_PHASES)


BAD_ANSWERS = [
    ({"lvef": 50}, "view", "required"),
    ({"view": "A2C"}, "view", "'A2C' is not one of ['A4C', 'PLAX']"),
    ({"view": "A4C", "lvef": 95}, "lvef", "95 % is outside 5..90 %"),
    ({"view": "A4C", "lvef": "55"}, "lvef", "a number"),
    ({"view": "A4C", "lvef": True}, "lvef", "a number"),
    ({"view": "PLAX", "lvef": 50}, "lvef", "this field does not apply given the other answers"),
    ({"view": "A4C", "valves": ["MR", "AR", "TR"]}, "valves", "at most 2 options"),
    ({"view": "A4C", "valves": ["MR", "MR"]}, "valves", "a list of distinct options"),
    ({"view": "A4C", "rheumatic": "maybe"}, "rheumatic", "one of yes, no, unsure"),
    ({"view": "A4C", "lvid": {"points": [[0, 0]]}}, "lvid", "exactly 2 points"),
    ({"view": "A4C", "lvid": {"points": [[0, 0], [700, 10]]}}, "lvid",
     "point (700, 10) lies outside the 640×480 image"),
    ({"view": "A4C", "lvid": {"frame": 121, "points": [[0, 0], [1, 1]]}}, "lvid", "frame 121 is outside 1..120"),
    ({"view": "A4C", "angle": {"points": [[1, 1], [1, 1], [5, 5]]}}, "angle", "an angle's arms must have length"),
    ({"view": "A4C", "apex": {"points": []}}, "apex", "at least 1 points"),
    ({"view": "A4C", "box": {"x": 630, "y": 0, "width": 20, "height": 5}}, "box", "the box leaves the 640×480 image"),
    ({"view": "A4C", "box": {"x": 1, "y": 1, "width": 0, "height": 5}}, "box", "a box needs a positive width"),
    ({"view": "A4C", "endocardium": {"points": [[0, 0], [5, 5]]}}, "endocardium", "at least 3 points"),
    ({"view": "A4C", "endocardium": {"points": [[0, 0], [5, 5], [10, 10]]}}, "endocardium", "encloses no area"),
    ({"view": "A4C", "endocardium": {"points": [[0, 0], "x", [1, 1]]}}, "endocardium", "each point is [x, y]"),
    ({"view": "A4C", "endocardium": {"points": [[1, 1]] * 10_001}}, "endocardium", "at most 10000 points"),
    ({"view": "A4C", "mask": {"rows": 100, "columns": 100, "rle": [10000]}}, "mask",
     "the mask is 100×100, the image 640×480"),
    ({"view": "A4C", "mask": {"rows": 480, "columns": 640, "rle": [5, 5]}}, "mask", "rle covers 10 pixels"),
    ({"view": "A4C", "mask": {"rows": 480, "columns": 640, "rle": [-1, 5]}}, "mask", "non-negative run lengths"),
    ({"view": "A4C", "phases": {"ED": 1}}, "phases", "one frame for each of ['ED', 'ES']"),
    ({"view": "A4C", "phases": {"ED": 1, "ES": 121}}, "phases", "ES frame 121 is outside 1..120"),
    ({"view": "A4C", "comment": "x" * 21}, "comment", "longer than 20 characters"),
    ({"view": "A4C", "nonsense": 1}, "nonsense", "not a field of this schema"),
]


@pytest.mark.parametrize("answer, field, message", BAD_ANSWERS, ids=[f"{f}: {m}" for _, f, m in BAD_ANSWERS])
def test_an_answer_that_does_not_fit_names_the_field(answer, field, message):
    with pytest.raises(AnswerError) as refused:
        validate_answer(SCHEMA, answer, ECHO)

    assert refused.value.field == field
    assert message in refused.value.message


def test_a_spatial_answer_without_an_image_is_refused():
    with pytest.raises(AnswerError, match="lvid: a spatial answer needs the item's image"):
        validate_answer(SCHEMA, {"view": "A4C", "lvid": {"points": [[0, 0], [1, 1]]}})


BAD_SCHEMAS = [
    ({}, "fields", "non-empty list"),
    ({"fields": [{"key": "a b", "kind": "text"}]}, "fields[0]", "identifier"),
    ({"fields": [{"key": "a", "kind": "text"}, {"key": "a", "kind": "text"}]}, "a", "duplicate key"),
    ({"fields": [{"key": "a", "kind": "slider"}]}, "a", "unknown kind 'slider'"),
    ({"fields": [{"key": "a", "kind": "single_choice", "options": [{"value": "x"}]}]}, "a", "at least two options"),
    ({"fields": [{"key": "a", "kind": "single_choice", "options": [{"value": "x"}, {"value": "x"}]}]}, "a",
     "distinct"),
    ({"fields": [{"key": "a", "kind": "number", "min": 5, "max": 5}]}, "a", "min must be below max"),
    ({"fields": [{"key": "a", "kind": "frame_selection"}]}, "a", "distinct labels"),
    ({"fields": [{"key": "a", "kind": "text", "show_if": {"field": "b", "in": ["x"]}}]}, "a", "defined before"),
]


@pytest.mark.parametrize("schema, field, message", BAD_SCHEMAS, ids=[m for _, _, m in BAD_SCHEMAS])
def test_a_malformed_schema_names_the_field(schema, field, message):
    with pytest.raises(SchemaError) as refused:
        validate_schema(schema)

    assert refused.value.field == field and message in refused.value.message


@pytest.mark.parametrize("points, area", [
    ([[0, 0], [4, 0], [4, 3]], 6.0),
    ([[0, 0], [0, 3], [4, 3], [4, 0]], 12.0),  # clockwise
    ([[0, 0], [2, 2], [4, 0], [2, 4]], 4.0),   # concave
])
def test_polygon_area(points, area):
    assert math.isclose(polygon_area(points), area)
