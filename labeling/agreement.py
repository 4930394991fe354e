"""How close two answers to one schema field are. Pure module: no Django, no database.

`similarity` is a score from 0 (nothing in common) to 1 (the same) for every field kind that can
be compared; `agrees` turns it into yes/no with the field's tolerance. Gold scoring (is the
worker right?) and consensus (how many workers agree with the chosen value?) share these, so
a worker is "right" on gold exactly when they would count as agreeing with the consensus.

Tolerances an admin may set on a field (defaults in brackets):
- number: "tolerance" in the field's unit [5 % of max − min, else 5 % of the expected value]
- frame_selection: "frame_tolerance" frames [1]
- length: "tolerance" as a share of the expected length [0.1]; angle: "tolerance" degrees [10]
- points: "tolerance_px" mean distance in pixels [10]
- bounding_box, contour, freehand, brush_mask: "min_dice" overlap [0.8 for shapes, 0.5 for boxes]
- multiple_choice: "min_jaccard" [1.0, the same set]
Text is never compared.
"""
from __future__ import annotations

import math

import numpy as np

from .consensus.masks import decode_rle, dice, rasterize_polygon

NOT_COMPARED = {"text"}
SHAPE_KINDS = {"contour", "freehand"}


def comparable(field: dict) -> bool:
    return field["kind"] not in NOT_COMPARED


def agrees(field: dict, given, expected) -> bool:
    """Whether `given` counts as the same answer as `expected` for this field."""
    if given is None or expected is None:
        return given is None and expected is None
    kind = field["kind"]
    if kind in {"single_choice", "yes_no_unsure"}:
        return given == expected
    if kind == "multiple_choice":
        return similarity(field, given, expected) >= field.get("min_jaccard", 1.0)
    if kind == "number":
        return abs(given - expected) <= _number_tolerance(field, expected)
    if kind == "frame_selection":
        tolerance = field.get("frame_tolerance", 1)
        return all(abs(given.get(label, -10**9) - frame) <= tolerance for label, frame in expected.items()
                   if label != "instance") and given.get("instance") == expected.get("instance")
    if not _same_image(given, expected):
        return False
    if kind == "length":
        return abs(_length(given) - _length(expected)) <= field.get("tolerance", 0.1) * max(_length(expected), 1e-9)
    if kind == "angle":
        return abs(given["degrees"] - expected["degrees"]) <= field.get("tolerance", 10)
    if kind == "points":
        return (len(given["points"]) == len(expected["points"])
                and _mean_distance(given["points"], expected["points"]) <= field.get("tolerance_px", 10))
    default = 0.5 if kind == "bounding_box" else 0.8
    return similarity(field, given, expected) >= field.get("min_dice", default)


def similarity(field: dict, given, expected) -> float:
    """A score from 0 to 1; 1 means the same answer."""
    if given is None or expected is None:
        return 1.0 if given is None and expected is None else 0.0
    kind = field["kind"]
    if kind == "multiple_choice":
        union = set(given) | set(expected)
        return len(set(given) & set(expected)) / len(union) if union else 1.0
    if kind in {"bounding_box", *SHAPE_KINDS, "brush_mask"}:
        return _dice(given, expected) if _same_image(given, expected) else 0.0
    if kind == "number":
        return max(0.0, 1 - abs(given - expected) / (4 * _number_tolerance(field, expected)))
    if kind == "points" and _same_image(given, expected) and len(given["points"]) == len(expected["points"]):
        return max(0.0, 1 - _mean_distance(given["points"], expected["points"]) / (4 * field.get("tolerance_px", 10)))
    return 1.0 if agrees(field, given, expected) else 0.0


def _number_tolerance(field: dict, expected: float) -> float:
    if "tolerance" in field:
        return field["tolerance"]
    if field.get("min") is not None and field.get("max") is not None:
        return 0.05 * (field["max"] - field["min"])
    return max(0.05 * abs(expected), 1e-9)


def _same_image(given: dict, expected: dict) -> bool:
    return given.get("instance") == expected.get("instance") and given.get("frame", 1) == expected.get("frame", 1)


def _length(value: dict) -> float:
    return value.get("length_mm", value.get("length_px", 0.0))


def _mean_distance(given: list, expected: list) -> float:
    return sum(math.dist(a, b) for a, b in zip(given, expected, strict=True)) / len(expected)


def _dice(given: dict, expected: dict) -> float:
    """Dice overlap of two shapes (boxes, contours, masks), rasterized as the consensus and the
    exports rasterize them (labeling/consensus/masks.py): masks on their image grid, outlines on
    the smallest grid holding both."""
    if "rle" in given or "rle" in expected:
        if (given.get("rows"), given.get("columns")) != (expected.get("rows"), expected.get("columns")):
            return 0.0
        return dice(*(decode_rle(mask["rle"], mask["rows"], mask["columns"]) for mask in (given, expected)))
    outlines = [_outline(given), _outline(expected)]
    corners = np.concatenate(outlines)
    left, top = np.floor(corners.min(axis=0))
    right, bottom = np.ceil(corners.max(axis=0))
    rows, columns = int(bottom - top) + 1, int(right - left) + 1
    return dice(*(rasterize_polygon(outline - [left, top], rows, columns) for outline in outlines))


def _outline(value: dict) -> np.ndarray:
    if "points" in value:
        return np.asarray(value["points"], dtype=float)
    x, y, width, height = value["x"], value["y"], value["width"], value["height"]
    return np.array([[x, y], [x + width, y], [x + width, y + height], [x, y + height]], dtype=float)
