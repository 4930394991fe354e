"""Agreement figures a stage report needs beyond reproducibility.py's: the crowd's own reliability on
sparse answers (one-way ICC over the items' first readings), Bland-Altman plot points, shapes on
their image grids (Dice and Hausdorff in mm), landmark distances in mm. Pure module: numpy and the
sibling modules. Every figure serializes to strict JSON (None where undefined).
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np

from . import reproducibility

MAX_PLOT_POINTS = 500  # a Bland-Altman plot of more points reads no better and weighs more


def first_readings(item_ids: Sequence[Hashable], values: Sequence[float]) -> np.ndarray:
    """Items × k table of each item's first k readings, k the median number of readings among items
    read at least twice (items with fewer than k are left out). (0, 2) when no item has two."""
    readings: dict[Hashable, list[float]] = {}
    for item, value in zip(item_ids, values, strict=True):
        if value is not None and math.isfinite(float(value)):
            readings.setdefault(item, []).append(float(value))
    counts = [len(given) for given in readings.values() if len(given) >= 2]
    if not counts:
        return np.empty((0, 2))
    k = int(np.median(counts))
    return np.array([given[:k] for given in readings.values() if len(given) >= k], dtype=float)


def crowd_reliability(item_ids: Sequence[Hashable], values: Sequence[float], confidence: float = 0.95) -> dict:
    """How far the crowd's readings of one item agree: ICC(1,1) (one-way random: each item read by
    different workers, as a crowd reads) with its confidence interval on `first_readings`, and
    Bland-Altman of each item's first reading against its second, with plot points."""
    table = first_readings(item_ids, values)
    icc = None
    if table.shape[0] >= 2 and np.ptp(table) > 0:
        icc = reproducibility.intraclass_correlation(table, "ICC(1,1)", confidence).as_dict()
    first, second = (table[:, 0], table[:, 1]) if len(table) else ([], [])
    return {"icc": icc, "bland_altman": reproducibility.bland_altman(first, second, confidence).as_dict(),
            "plot": bland_altman_points(first, second)}


def paired_agreement(first: Sequence[float], second: Sequence[float], confidence: float = 0.95) -> dict:
    """Two sources on the same items (the crowd consensus and an expert): ICC(2,1) (absolute
    agreement) with its interval, Bland-Altman (first − second) and plot points."""
    a, b = np.asarray(first, float), np.asarray(second, float)
    icc = None
    if a.size >= 2 and np.ptp(np.concatenate([a, b])) > 0:
        icc = reproducibility.intraclass_correlation(np.column_stack([a, b]), "ICC(2,1)", confidence).as_dict()
    return {"icc": icc, "bland_altman": reproducibility.bland_altman(a, b, confidence).as_dict(),
            "plot": bland_altman_points(a, b)}


def bland_altman_points(first: Sequence[float], second: Sequence[float],
                        max_points: int = MAX_PLOT_POINTS) -> list[list[float]]:
    """[mean, difference (first − second)] per pair, at most `max_points` of them, evenly spaced."""
    a, b = np.asarray(first, float), np.asarray(second, float)
    if a.size > max_points:
        keep = np.linspace(0, a.size - 1, max_points).round().astype(int)
        a, b = a[keep], b[keep]
    return np.round(np.column_stack([(a + b) / 2, a - b]), 4).tolist()


def landmark_distance(first: Sequence[Sequence[float]], second: Sequence[Sequence[float]],
                      spacing: tuple[float, float] | None = None) -> float:
    """Mean distance between corresponding landmarks ([x, y] each), in mm given the pixel spacing
    (row mm, column mm), else in pixels. Raises ValueError for different landmark counts."""
    a, b = np.asarray(first, float).reshape(-1, 2), np.asarray(second, float).reshape(-1, 2)
    if a.shape != b.shape or not len(a):
        raise ValueError(f"landmark sets differ: {len(a)} and {len(b)} points")
    row_mm, column_mm = spacing or (1.0, 1.0)
    offset = a - b
    return float(np.hypot(offset[:, 0] * column_mm, offset[:, 1] * row_mm).mean())


def summary(values: Sequence[float | None], unit: str | None = None) -> dict:
    """Count, mean, median, min and max of the defined values (None where there are none)."""
    given = np.array([value for value in values if value is not None], dtype=float)
    figures = {"count": int(given.size), **{name: (round(float(function(given)), 4) if given.size else None)
                                            for name, function in (("mean", np.mean), ("median", np.median),
                                                                   ("min", np.min), ("max", np.max))}}
    return {**figures, "unit": unit} if unit is not None else figures


def common_unit(units: Sequence[str]) -> str:
    """The unit most figures are in (mm unless most images were uncalibrated)."""
    return Counter(units).most_common(1)[0][0] if units else "px"
