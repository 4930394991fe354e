import numpy as np
import pytest

from labeling.agreement import agrees, similarity
from labeling.consensus.masks import decode_rle
from labeling.consensus.voting import consensus_fields, majority_vote
from labeling.schema import ImageGeometry

VIEW = {"key": "view", "kind": "single_choice"}
QUALITY = {"key": "quality", "kind": "single_choice"}
LVEF = {"key": "lvef", "kind": "number", "min": 5, "max": 90}  # tolerance 4.25 %
CONTOUR = {"key": "lv", "kind": "contour"}
VALVES = {"key": "valves", "kind": "multiple_choice"}
PHASES = {"key": "phases", "kind": "frame_selection", "labels": ["ED", "ES"]}


def square(x: float, y: float, size: float, frame: int = 1) -> dict:
    return {"frame": frame, "instance": "2.25.1",
            "points": [[x, y], [x + size, y], [x + size, y + size], [x, y + size]]}


@pytest.mark.parametrize("labels, expected", [
    (["A4C", "A4C", "PLAX"], ("A4C", 2 / 3)),
    (["A4C"], ("A4C", 1.0)),
    (["A4C", "PLAX"], (None, 0.5)),
    (["yes", "no", "unsure", "yes"], ("yes", 0.5)),
    ([], (None, 0.0)),
])
def test_majority_vote(labels, expected):
    assert majority_vote(labels) == expected


def test_the_weakest_field_is_the_confidence():
    answers = [{"view": "A4C", "quality": "good"}, {"view": "A4C", "quality": "poor"},
               {"view": "A4C", "quality": "good"}, {}]

    fields, confidence = consensus_fields([VIEW, QUALITY, {"key": "note", "kind": "text"}], answers)

    assert fields == {"view": {"value": "A4C", "share": 1.0, "votes": 3},
                      "quality": {"value": "good", "share": 0.6667, "votes": 3}}
    assert confidence == 0.6667


def test_numbers_take_the_median_and_agree_within_tolerance():
    fields, confidence = consensus_fields([LVEF], [{"lvef": 55.0}, {"lvef": 58.0}, {"lvef": 30.0}])

    assert fields["lvef"] == {"value": 55.0, "share": 0.6667, "votes": 3}
    assert confidence == 0.6667


def test_contours_are_fused_by_staple_on_the_image_grid():
    near, nearer, far = square(100, 100, 50), square(102, 101, 50), square(300, 300, 50)
    images = {"2.25.1": ImageGeometry(rows=480, columns=640)}

    fields, _ = consensus_fields([CONTOUR], [{"lv": near}, {"lv": far}, {"lv": nearer}], images)

    entry = fields["lv"]
    assert entry["value"] not in (near, nearer, far)  # a fusion, not one worker's outline
    assert (entry["value"]["frame"], entry["value"]["instance"]) == (1, "2.25.1")
    assert similarity(CONTOUR, entry["value"], near) > 0.95
    assert entry["share"] == 0.6667 and entry["method"] == "staple"
    assert entry["sensitivity"][1] < 0.1 < 0.9 < min(entry["sensitivity"][0], entry["sensitivity"][2])


def test_contours_on_different_frames_are_fused_frame_by_frame():
    answers = [{"lv": square(100, 100, 50, frame=1)}, {"lv": square(101, 100, 50, frame=1)},
               {"lv": square(50, 50, 20, frame=9)}]

    fields, _ = consensus_fields([CONTOUR], answers, {"2.25.1": ImageGeometry(rows=480, columns=640)})

    entry = fields["lv"]
    assert entry["value"]["frame"] == 1 and entry["value"]["area_px"] == pytest.approx(2500, abs=60)
    assert [frame["frame"] for frame in entry["frames"]] == [1, 9]
    assert entry["frames"][1]["points"] == [[50.0, 50.0], [70.0, 50.0], [70.0, 70.0], [50.0, 70.0]]
    assert entry["sensitivity"][2] == 1.0  # alone on its frame: the fusion is its own outline


def test_multiple_choice_keeps_options_most_chose_and_frames_the_median():
    fields, _ = consensus_fields([VALVES, PHASES], [
        {"valves": ["MR", "AR"], "phases": {"ED": 1, "ES": 14}},
        {"valves": ["MR"], "phases": {"ED": 2, "ES": 15}},
        {"valves": ["MR", "AR", "TR"], "phases": {"ED": 1, "ES": 20}}])

    assert fields["valves"]["value"] == ["AR", "MR"]
    assert fields["phases"] == {"value": {"ED": 1, "ES": 15}, "share": 0.6667, "votes": 3}


def test_shape_overlap_is_the_dice_coefficient():
    assert similarity(CONTOUR, square(0, 0, 10), square(0, 0, 10)) == 1.0
    assert similarity(CONTOUR, square(0, 0, 10), square(100, 100, 10)) == 0.0
    half = similarity(CONTOUR, square(0, 0, 100), square(50, 0, 100))
    assert half == pytest.approx(0.5, abs=0.02)
    assert not agrees(CONTOUR, square(0, 0, 100), square(0, 0, 100, frame=2))  # another frame


def test_masks_decode_from_run_lengths_and_compare():
    mask = {"key": "m", "kind": "brush_mask"}
    left = {"frame": 1, "rows": 4, "columns": 4, "rle": [0, 2, 2, 2, 2, 2, 2, 2, 2]}
    assert decode_rle(left["rle"], 4, 4).tolist() == np.tile([True, True, False, False], (4, 1)).tolist()

    assert similarity(mask, left, left) == 1.0
    assert similarity(mask, left, {**left, "rle": [2, 2, 2, 2, 2, 2, 2, 2]}) == 0.0


def test_brush_masks_on_one_image_are_fused_by_staple():
    mask = {"key": "m", "kind": "brush_mask"}

    def drawn(left: int, width: int) -> dict:  # a 10 × 10 image, columns left..left+width-1 marked
        row = [0] * left + [1] * width + [0] * (10 - left - width)
        runs, current, length = [], 0, 0
        for value in row * 10:
            if value != current:
                runs.append(length)
                current, length = value, 0
            length += 1
        runs.append(length)
        return {"frame": 1, "instance": "2.25.1", "rows": 10, "columns": 10, "rle": runs,
                "area_mm2": float(width * 10) * 0.25}

    fields, _ = consensus_fields([mask], [{"m": drawn(2, 4)}, {"m": drawn(2, 4)}, {"m": drawn(3, 4)}])

    fused = decode_rle(fields["m"]["value"]["rle"], 10, 10)
    assert fused[0].tolist() == [False, False, True, True, True, True, False, False, False, False]
    assert fields["m"]["value"]["area_mm2"] == 10.0  # 40 pixels of 0.25 mm²
    assert fields["m"]["share"] == 0.6667  # the shifted mask overlaps it with Dice 0.75 < 0.8
