"""Consensus of several answers to one schema, field by field. Pure module.

Categorical fields take the majority; multiple choice keeps the options more than half chose;
numbers and frame numbers the median; brush masks drawn on the same image are fused by STAPLE;
contours and freehand outlines are rasterized on their image's grid, fused by STAPLE per image and
frame and traced back to an outline (masks.fuse_contours); other spatial fields (lines, points,
boxes) take the medoid, the answer most like all the others. Each field's confidence is the share of answers that
agree with the chosen value (labeling/agreement.py), so for a categorical field it is the vote
share. The answer's confidence is its weakest field's. The weighted engine (Dawid-Skene, STAPLE)
of the consensus issue replaces these estimators behind the same output.
"""
from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Protocol

from ..agreement import agrees, comparable, similarity
from ..schema import polygon_area
from .masks import decode_rle, encode_rle, fuse_contours, outline_grid, staple

CATEGORICAL_KINDS = {"single_choice", "yes_no_unsure"}
OUTLINE_KINDS = {"contour", "freehand"}


class Grid(Protocol):
    """What fusing needs of an image: its grid (labeling.schema.ImageGeometry has these)."""

    rows: int
    columns: int


def majority_vote(labels: Iterable[str]) -> tuple[str | None, float]:
    """The most frequent label and its share of the votes. A tie is no consensus (None) with the
    tied share: the routing must not treat a coin toss as agreement."""
    counts = Counter(labels)
    total = sum(counts.values())
    if not total:
        return None, 0.0
    (best, votes), *rest = counts.most_common()
    if rest and rest[0][1] == votes:
        return None, votes / total
    return best, votes / total


def consensus_fields(fields: list[dict], answers: list[dict], images: Mapping[str, Grid] | None = None
                     ) -> tuple[dict[str, dict], float]:
    """Per compared field {"value", "share", "votes"} over the answers that gave one, and the
    overall confidence (the weakest field's share; 0 with no field). `images` (by SOP Instance UID)
    gives the grid outlines are fused on; an outline on an image it does not know is fused on the
    outlines' own extent from the origin (at most masks.MAX_GRID_SIDE a side). A fused outline's
    entry also has each answer's "sensitivity" and "specificity" (in the order of the answers)."""
    result, confidence = {}, 1.0
    for field in fields:
        if not comparable(field):
            continue
        given = [answer[field["key"]] for answer in answers if answer.get(field["key"]) is not None]
        if not given:
            continue
        extra: dict = {}
        if field["kind"] in OUTLINE_KINDS and len(given) >= 2:
            value, extra = fuse_outlines(given, images or {})
            share = sum(agrees(field, answer, value) for answer in given) / len(given)
        else:
            value, share = _combine(field, given)
        result[field["key"]] = {"value": value, "share": round(share, 4), "votes": len(given), **extra}
        confidence = min(confidence, share)
    return result, round(confidence if result else 0.0, 4)


def fuse_outlines(given: list[dict], images: Mapping[str, Grid]) -> tuple[dict, dict]:
    """Contour or freehand answers fused by STAPLE, image by image and frame by frame: the value is
    the fused outline of the image and frame most answers were drawn on (the first such on a tie),
    in the answers' format (frame, instance, points, area in the answers' unit); the details give
    each answer's sensitivity and specificity against the fusion of its own image and frame (None
    where it was alone there) and, when answers were on several frames, every frame's fusion."""
    groups: dict[tuple, list[int]] = {}
    for index, answer in enumerate(given):
        groups.setdefault((answer.get("instance"), answer.get("frame", 1)), []).append(index)
    sensitivity: list[float | None] = [None] * len(given)
    specificity: list[float | None] = [None] * len(given)
    fused = []
    for (instance, _frame), indices in groups.items():
        outlines = [given[index]["points"] for index in indices]
        image = images.get(instance) if instance is not None else None
        rows, columns = (image.rows, image.columns) if image is not None else outline_grid(outlines)
        fusion = fuse_contours(outlines, rows, columns)
        for position, index in enumerate(indices):
            sensitivity[index] = round(float(fusion.sensitivity[position]), 6)
            specificity[index] = round(float(fusion.specificity[position]), 6)
        value = {key: given[indices[0]][key] for key in ("frame", "instance") if key in given[indices[0]]}
        value["points"] = fusion.points
        value.update(_area(given[indices[0]], polygon_area(fusion.points)))  # as the schema reports areas
        fused.append((len(indices), value))
    best = max(range(len(fused)), key=lambda index: (fused[index][0], -index))
    details: dict = {"method": "staple", "sensitivity": sensitivity, "specificity": specificity}
    if len(fused) > 1:
        details["frames"] = [{**value, "votes": votes} for votes, value in fused]
    return fused[best][1], details


def _area(answer: dict, pixels: float) -> dict:
    """The fused outline's area in the answers' unit: each answer carries its calibration as its
    area over its shoelace area in pixels."""
    unit = "area_mm2" if "area_mm2" in answer else "area_px"
    drawn = polygon_area([list(map(float, point)) for point in answer["points"]])
    if unit not in answer or drawn <= 0:
        return {"area_px": round(pixels, 3)}
    return {unit: round(answer[unit] / drawn * pixels, 3)}


def _combine(field: dict, given: list) -> tuple[object, float]:
    kind = field["kind"]
    if kind in CATEGORICAL_KINDS:
        return majority_vote(given)
    if kind == "multiple_choice":
        counts = Counter(option for chosen in given for option in chosen)
        value = sorted(option for option, votes in counts.items() if votes > len(given) / 2)
    elif kind == "number":
        value = float(statistics.median(given))
    elif kind == "brush_mask" and _same_grid(given):
        value = _staple_mask(given)
    elif kind == "frame_selection":
        value = {label: int(round(statistics.median(answer[label] for answer in given)))
                 for label in given[0] if label != "instance"}
        if "instance" in given[0]:
            value["instance"] = Counter(answer.get("instance") for answer in given).most_common(1)[0][0]
    else:
        value = _medoid(field, given)
    return value, sum(agrees(field, answer, value) for answer in given) / len(given)


def _same_grid(given: list[dict]) -> bool:
    keys = {(mask.get("instance"), mask.get("frame", 1), mask["rows"], mask["columns"]) for mask in given}
    return len(given) >= 2 and len(keys) == 1


def _staple_mask(given: list[dict]) -> dict:
    """Brush masks drawn on the same image fused by STAPLE (each rater's sensitivity and
    specificity estimated by EM), as a mask answer of the same shape."""
    first = given[0]
    rows, columns = first["rows"], first["columns"]
    fused = staple([decode_rle(mask["rle"], rows, columns) for mask in given]).mask
    value = {key: first[key] for key in ("frame", "instance") if key in first}
    value.update(rows=rows, columns=columns, rle=encode_rle(fused))
    unit = "area_mm2" if "area_mm2" in first else "area_px"
    drawn = [(mask[unit], sum(mask["rle"][1::2])) for mask in given if sum(mask["rle"][1::2])]
    if drawn:  # the answers carry their calibration: area per pixel
        value[unit] = round(drawn[0][0] / drawn[0][1] * int(fused.sum()), 3)
    return value


def _medoid(field: dict, given: list) -> object:
    """The answer with the highest total similarity to the others (the first on a tie)."""
    if len(given) <= 2:
        return given[0]
    totals = [sum(similarity(field, answer, other) for other in given) for answer in given]
    return given[totals.index(max(totals))]
