"""Label schemas and the answers they accept. Pure module: no Django, no database.

A schema is data an admin designs (JSON, versioned with its stage); an answer is what a worker
submits. `validate_schema` refuses a malformed design naming the field; `validate_answer`
refuses an answer that does not fit, naming the field, and returns the answer normalized
(spatial answers gain their size in millimetres from the image geometry).

Schema: {"fields": [{"key": "view", "kind": "single_choice", "label": "…", "required": true,
"options": [{"value": "A4C", "label": "Apical 4-chamber", "shortcut": "4"}],
"show_if": {"field": "other_key", "in": ["yes"]}}, …]}

Answer kinds, by field kind (coordinates are image pixels: x = column, y = row, from 0):
- single_choice: "A4C"                          - multiple_choice: ["MR", "AR"]
- yes_no_unsure: "yes" | "no" | "unsure"         - number: 55.0 (within min/max)
- text: "free comment"
- length: {"frame": 12, "points": [[x, y], [x, y]]}             → adds "length_mm" (or "length_px")
- angle: {"frame": 12, "points": [[x, y], [x, y], [x, y]]}      → adds "degrees" (vertex: middle point)
- points: {"frame": 12, "points": [[x, y], …]}                  (min/max count)
- bounding_box: {"frame": 12, "x": 10, "y": 20, "width": 30, "height": 40}
- contour, freehand: {"frame": 12, "points": [[x, y], …]} ≥ 3 points, closed → adds "area_mm2"
- brush_mask: {"frame": 12, "rows": 480, "columns": 640, "rle": [0, 5, 10, …]}
  (run lengths alternating background/foreground in row-major order, starting with background)
- frame_selection: {"ED": 1, "ES": 14} (one frame per label of the field)
Frames count from 1, as WADO-RS frame numbers do. When an item covers several images (a series
of MR phases, a study), a spatial or frame answer names its image: "instance": "<SOP Instance UID>";
the normalized answer always carries it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .consensus.masks import MAX_CONTOUR_POINTS

CHOICE_KINDS = {"single_choice", "multiple_choice"}
SPATIAL_KINDS = {"length", "angle", "points", "bounding_box", "contour", "freehand", "brush_mask"}
FIELD_KINDS = CHOICE_KINDS | SPATIAL_KINDS | {"yes_no_unsure", "number", "text", "frame_selection"}
YES_NO_UNSURE = ("yes", "no", "unsure")
MAX_TEXT = 5000


class SchemaError(ValueError):
    """A schema an admin designed is malformed; `field` names where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class AnswerError(ValueError):
    """An answer does not fit the schema; `field` names which field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass(frozen=True)
class ImageGeometry:
    """What spatial answers are checked against: the image's grid and its calibration."""

    rows: int
    columns: int
    frames: int = 1
    # Millimetres per pixel (row spacing, column spacing), from PixelSpacing or the ultrasound
    # region calibration; None when the image has no calibration (sizes then stay in pixels).
    spacing_mm: tuple[float, float] | None = None


# --- schema ----------------------------------------------------------------------------------


def validate_schema(schema: dict) -> dict:
    """Check an admin's schema; return it. Raises SchemaError naming the field."""
    fields = schema.get("fields") if isinstance(schema, dict) else None
    if not isinstance(fields, list) or not fields:
        raise SchemaError("fields", "a schema needs a non-empty list of fields")
    keys: list[str] = []
    for position, field in enumerate(fields):
        where = f"fields[{position}]"
        if not isinstance(field, dict):
            raise SchemaError(where, "each field is an object")
        key = field.get("key")
        if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
            raise SchemaError(where, "key must be an identifier (letters, digits, underscore) not starting with _")
        if key in keys:
            raise SchemaError(key, "duplicate key")
        kind = field.get("kind")
        if kind not in FIELD_KINDS:
            raise SchemaError(key, f"unknown kind {kind!r}; one of {', '.join(sorted(FIELD_KINDS))}")
        _check_field_settings(key, kind, field)
        condition = field.get("show_if")
        if condition is not None:
            if not isinstance(condition, dict) or condition.get("field") not in keys:
                raise SchemaError(key, "show_if must name a field defined before this one")
            if not isinstance(condition.get("in"), list) or not condition["in"]:
                raise SchemaError(key, "show_if needs a non-empty 'in' list of answers")
        keys.append(key)
    return schema


def _check_field_settings(key: str, kind: str, field: dict) -> None:
    if kind in CHOICE_KINDS:
        options = field.get("options")
        if not isinstance(options, list) or len(options) < 2:
            raise SchemaError(key, "a choice needs at least two options")
        values = [option.get("value") if isinstance(option, dict) else None for option in options]
        if any(not isinstance(value, str) or not value for value in values) or len(set(values)) != len(values):
            raise SchemaError(key, "option values must be distinct non-empty strings")
        shortcuts = [option.get("shortcut") for option in options if option.get("shortcut")]
        if len(set(shortcuts)) != len(shortcuts):
            raise SchemaError(key, "keyboard shortcuts must be distinct")
    if kind == "number":
        low, high = field.get("min"), field.get("max")
        if low is not None and high is not None and low >= high:
            raise SchemaError(key, "min must be below max")
    if kind == "frame_selection":
        labels = field.get("labels")
        if not isinstance(labels, list) or not labels or len(set(labels)) != len(labels):
            raise SchemaError(key, "frame_selection needs distinct labels, e.g. ['ED', 'ES']")


def visible_fields(schema: dict, answer: dict) -> list[dict]:
    """Fields that apply given the answers so far (show_if conditions met)."""
    shown = []
    for field in schema["fields"]:
        condition = field.get("show_if")
        if condition is None or _matches(answer.get(condition["field"]), condition["in"]):
            shown.append(field)
    return shown


def _matches(value, allowed: list) -> bool:
    if isinstance(value, list):
        return any(item in allowed for item in value)
    return value in allowed


# --- answers ---------------------------------------------------------------------------------


def validate_answer(schema: dict, answer: dict, images: Mapping[str, ImageGeometry] | None = None) -> dict:
    """Check an answer against its schema and the item's images (by SOP Instance UID); return it
    normalized.

    Raises AnswerError naming the first field that does not fit: an unknown key, a missing
    required field, a value of the wrong kind or out of range, a shape outside the image, an
    image that is not the item's."""
    if not isinstance(answer, dict):
        raise AnswerError("answer", "an answer is an object of field keys")
    known = {field["key"] for field in schema["fields"]}
    for key in answer:
        if key not in known:
            raise AnswerError(key, "not a field of this schema")
    shown = visible_fields(schema, answer)
    normalized = {}
    for field in shown:
        key, value = field["key"], answer.get(field["key"])
        if value is None or value == "" or value == []:
            if field.get("required", False):
                raise AnswerError(key, "required")
            continue
        if field["kind"] in SPATIAL_KINDS or field["kind"] == "frame_selection":
            instance, image = _image_of(key, value, images)
            normalized[key] = {**_SPATIAL[field["kind"]](key, field, _without_instance(value), image),
                               "instance": instance}
        else:
            normalized[key] = _SCALAR[field["kind"]](key, field, value)
    for field in schema["fields"]:
        if field not in shown and answer.get(field["key"]) is not None:
            raise AnswerError(field["key"], "this field does not apply given the other answers")
    return normalized


def _image_of(key: str, value, images: Mapping[str, ImageGeometry] | None) -> tuple[str, ImageGeometry]:
    """The image a spatial answer is drawn on and its UID (implied when the item has one image)."""
    named = value.get("instance") if isinstance(value, dict) else None
    if named is not None:
        if images is None or named not in images:
            raise AnswerError(key, f"instance {named!r} is not an image of this item")
        return named, images[named]
    if not images:
        raise AnswerError(key, "a spatial answer needs the item's image")
    if len(images) != 1:
        raise AnswerError(key, "this item has several images: name the one you drew on in 'instance'")
    return next(iter(images.items()))


def _without_instance(value):
    return {k: v for k, v in value.items() if k != "instance"} if isinstance(value, dict) else value


def _choice(key: str, field: dict, value) -> str:
    values = [option["value"] for option in field["options"]]
    if value not in values:
        raise AnswerError(key, f"{value!r} is not one of {values}")
    return value


def _choices(key: str, field: dict, value) -> list[str]:
    if not isinstance(value, list) or len(set(map(str, value))) != len(value):
        raise AnswerError(key, "a list of distinct options")
    for item in value:
        _choice(key, field, item)
    _count(key, field, len(value), "options")
    return value


def _yes_no(key: str, field: dict, value) -> str:
    if value not in YES_NO_UNSURE:
        raise AnswerError(key, "one of yes, no, unsure")
    return value


def _number(key: str, field: dict, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AnswerError(key, "a number")
    low, high = field.get("min"), field.get("max")
    unit = f" {field['unit']}" if field.get("unit") else ""
    if (low is not None and value < low) or (high is not None and value > high):
        raise AnswerError(key, f"{value}{unit} is outside {low}..{high}{unit}")
    return float(value)


def _text(key: str, field: dict, value) -> str:
    if not isinstance(value, str):
        raise AnswerError(key, "text")
    if len(value) > field.get("max_length", MAX_TEXT):
        raise AnswerError(key, f"longer than {field.get('max_length', MAX_TEXT)} characters")
    return value


_SCALAR = {"single_choice": _choice, "multiple_choice": _choices, "yes_no_unsure": _yes_no, "number": _number,
           "text": _text}


def _count(key: str, field: dict, count: int, noun: str) -> None:
    low, high = field.get("min"), field.get("max")
    if low is not None and count < low:
        raise AnswerError(key, f"at least {low} {noun}")
    if high is not None and count > high:
        raise AnswerError(key, f"at most {high} {noun}")


def _frame(key: str, value: dict, image: ImageGeometry) -> int:
    frame = value.get("frame", 1)
    if isinstance(frame, bool) or not isinstance(frame, int) or not 1 <= frame <= image.frames:
        raise AnswerError(key, f"frame {frame!r} is outside 1..{image.frames}")
    return frame


def _points(key: str, value: dict, image: ImageGeometry, *, exactly: int | None = None,
            at_least: int = 1) -> list[list[float]]:
    points = value.get("points") if isinstance(value, dict) else None
    if not isinstance(points, list):
        raise AnswerError(key, "points: a list of [x, y] pairs")
    clean = []
    for point in points:
        if (not isinstance(point, (list, tuple)) or len(point) != 2
                or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in point)):
            raise AnswerError(key, "each point is [x, y]")
        x, y = float(point[0]), float(point[1])
        if not (0 <= x <= image.columns and 0 <= y <= image.rows):
            raise AnswerError(key, f"point ({x:g}, {y:g}) lies outside the {image.columns}×{image.rows} image")
        clean.append([x, y])
    if exactly is not None and len(clean) != exactly:
        raise AnswerError(key, f"exactly {exactly} points")
    if len(clean) < at_least:
        raise AnswerError(key, f"at least {at_least} points")
    return clean


def _mm(image: ImageGeometry, dx: float, dy: float) -> float:
    row_mm, column_mm = image.spacing_mm or (1.0, 1.0)
    return math.hypot(dx * column_mm, dy * row_mm)


def _length(key: str, field: dict, value, image: ImageGeometry) -> dict:
    frame = _frame(key, value, image)
    (x0, y0), (x1, y1) = _points(key, value, image, exactly=2)
    size = _mm(image, x1 - x0, y1 - y0)
    unit = "length_mm" if image.spacing_mm else "length_px"
    return {"frame": frame, "points": [[x0, y0], [x1, y1]], unit: round(size, 3)}


def _angle(key: str, field: dict, value, image: ImageGeometry) -> dict:
    frame = _frame(key, value, image)
    a, vertex, b = _points(key, value, image, exactly=3)
    row_mm, column_mm = image.spacing_mm or (1.0, 1.0)
    first = ((a[0] - vertex[0]) * column_mm, (a[1] - vertex[1]) * row_mm)
    second = ((b[0] - vertex[0]) * column_mm, (b[1] - vertex[1]) * row_mm)
    if math.hypot(*first) == 0 or math.hypot(*second) == 0:
        raise AnswerError(key, "an angle's arms must have length")
    degrees = math.degrees(abs(math.atan2(first[0] * second[1] - first[1] * second[0],
                                          first[0] * second[0] + first[1] * second[1])))
    return {"frame": frame, "points": [a, vertex, b], "degrees": round(degrees, 3)}


def _point_set(key: str, field: dict, value, image: ImageGeometry) -> dict:
    frame = _frame(key, value, image)
    points = _points(key, value, image)
    _count(key, field, len(points), "points")
    return {"frame": frame, "points": points}


def _box(key: str, field: dict, value, image: ImageGeometry) -> dict:
    if not isinstance(value, dict):
        raise AnswerError(key, "a box is {frame, x, y, width, height}")
    frame = _frame(key, value, image)
    try:
        x, y, width, height = (float(value[name]) for name in ("x", "y", "width", "height"))
    except (KeyError, TypeError, ValueError):
        raise AnswerError(key, "a box is {frame, x, y, width, height}") from None
    if width <= 0 or height <= 0:
        raise AnswerError(key, "a box needs a positive width and height")
    if x < 0 or y < 0 or x + width > image.columns or y + height > image.rows:
        raise AnswerError(key, f"the box leaves the {image.columns}×{image.rows} image")
    return {"frame": frame, "x": x, "y": y, "width": width, "height": height}


def polygon_area(points: list[list[float]]) -> float:
    """Shoelace area of a closed polygon (the last point joins the first)."""
    total = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
        total += x0 * y1 - x1 * y0
    return abs(total) / 2


def _contour(key: str, field: dict, value, image: ImageGeometry) -> dict:
    frame = _frame(key, value, image)
    if isinstance(value, dict) and isinstance(value.get("points"), list) and len(value["points"]) > MAX_CONTOUR_POINTS:
        # Consensus refuses to rasterize more (consensus/masks.py): refuse it here, before it is stored.
        raise AnswerError(key, f"at most {MAX_CONTOUR_POINTS} points")
    points = _points(key, value, image, at_least=3)
    if len(points) > 3 and points[0] == points[-1]:
        points = points[:-1]  # closed by repeating the first point: the closing edge is implied
    if len(points) < 3:
        raise AnswerError(key, "at least 3 distinct points")
    area_px = polygon_area(points)
    if area_px == 0:
        raise AnswerError(key, "the contour encloses no area")
    row_mm, column_mm = image.spacing_mm or (1.0, 1.0)
    unit = "area_mm2" if image.spacing_mm else "area_px"
    return {"frame": frame, "points": points, unit: round(area_px * row_mm * column_mm, 3)}


def _mask(key: str, field: dict, value, image: ImageGeometry) -> dict:
    if not isinstance(value, dict):
        raise AnswerError(key, "a mask is {frame, rows, columns, rle}")
    frame = _frame(key, value, image)
    if (value.get("rows"), value.get("columns")) != (image.rows, image.columns):
        raise AnswerError(key, f"the mask is {value.get('columns')}×{value.get('rows')}, "
                               f"the image {image.columns}×{image.rows}")
    runs = value.get("rle")
    if not isinstance(runs, list) or not all(isinstance(r, int) and not isinstance(r, bool) and r >= 0
                                             for r in runs):
        raise AnswerError(key, "rle: a list of non-negative run lengths")
    if sum(runs) != image.rows * image.columns:
        raise AnswerError(key, f"rle covers {sum(runs)} pixels, the image has {image.rows * image.columns}")
    foreground = sum(runs[1::2])
    row_mm, column_mm = image.spacing_mm or (1.0, 1.0)
    unit = "area_mm2" if image.spacing_mm else "area_px"
    return {"frame": frame, "rows": image.rows, "columns": image.columns, "rle": runs,
            unit: round(foreground * row_mm * column_mm, 3)}


def _frames(key: str, field: dict, value, image: ImageGeometry) -> dict:
    labels = field["labels"]
    if not isinstance(value, dict) or set(value) != set(labels):
        raise AnswerError(key, f"one frame for each of {labels}")
    for label in labels:
        frame = value[label]
        if isinstance(frame, bool) or not isinstance(frame, int) or not 1 <= frame <= image.frames:
            raise AnswerError(key, f"{label} frame {frame!r} is outside 1..{image.frames}")
    return {label: value[label] for label in labels}


_SPATIAL = {"length": _length, "angle": _angle, "points": _point_set, "bounding_box": _box, "contour": _contour,
            "freehand": _contour, "brush_mask": _mask, "frame_selection": _frames}
