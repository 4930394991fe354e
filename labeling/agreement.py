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
from PIL import Image, ImageDraw

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
    """Dice overlap of two shapes (boxes, contours, masks), rasterized on a shared pixel grid."""
    first, second = _raster(given), _raster(expected)
    if first is None or second is None:
        return 0.0
    (mask_a, (top_a, left_a)), (mask_b, (top_b, left_b)) = first, second
    top, left = min(top_a, top_b), min(left_a, left_b)
    bottom = max(top_a + mask_a.shape[0], top_b + mask_b.shape[0])
    right = max(left_a + mask_a.shape[1], left_b + mask_b.shape[1])
    canvas_a = np.zeros((bottom - top, right - left), bool)
    canvas_b = np.zeros_like(canvas_a)
    canvas_a[top_a - top:top_a - top + mask_a.shape[0], left_a - left:left_a - left + mask_a.shape[1]] = mask_a
    canvas_b[top_b - top:top_b - top + mask_b.shape[0], left_b - left:left_b - left + mask_b.shape[1]] = mask_b
    total = canvas_a.sum() + canvas_b.sum()
    return float(2 * (canvas_a & canvas_b).sum() / total) if total else 1.0


def _raster(value: dict) -> tuple[np.ndarray, tuple[int, int]] | None:
    """A boolean mask of the shape and the (row, column) of its top-left corner."""
    if "rle" in value:
        return decode_rle(value["rle"], value["rows"], value["columns"]), (0, 0)
    if "points" in value:
        points = value["points"]
    else:
        x, y, width, height = value["x"], value["y"], value["width"], value["height"]
        points = [[x, y], [x + width, y], [x + width, y + height], [x, y + height]]
    left, top = math.floor(min(p[0] for p in points)), math.floor(min(p[1] for p in points))
    width = math.ceil(max(p[0] for p in points)) - left + 1
    height = math.ceil(max(p[1] for p in points)) - top + 1
    canvas = Image.new("1", (width, height), 0)
    ImageDraw.Draw(canvas).polygon([(p[0] - left, p[1] - top) for p in points], fill=1, outline=1)
    return np.array(canvas, dtype=bool), (top, left)


def decode_rle(runs: list[int], rows: int, columns: int) -> np.ndarray:
    """Run lengths alternating background/foreground, row-major, starting with background."""
    values = np.zeros(len(runs), bool)
    values[1::2] = True
    return np.repeat(values, runs).reshape(rows, columns)
