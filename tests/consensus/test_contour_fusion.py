"""Contour consensus: outlines rasterized on the image grid, fused by STAPLE (as SimpleITK fuses the
same masks), traced back to an outline that rasterizes to the fused mask; the caps that keep a
hostile outline from costing unbounded memory."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from labeling.consensus.masks import (
    MAX_CONTOUR_POINTS,
    MAX_GRID_SIDE,
    dice,
    fuse_contours,
    largest_component,
    outline_grid,
    rasterize_polygon,
    trace_contour,
)

ROWS, COLUMNS = 240, 320


def ellipse(centre_x: float, centre_y: float, radius_x: float, radius_y: float, seed: int, jitter: float = 2.0,
            count: int = 72) -> list[list[float]]:
    """A hand-drawn-like outline of an LV cavity: an ellipse with a jittered radius."""
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    scale = 1 + np.random.default_rng(seed).normal(0, jitter / max(radius_x, radius_y), count)
    return np.column_stack([centre_x + radius_x * scale * np.cos(angles),
                            centre_y + radius_y * scale * np.sin(angles)]).tolist()


THREE = [ellipse(160, 120, 60, 40, seed=1), ellipse(165, 118, 64, 42, seed=2), ellipse(150, 125, 52, 36, seed=3)]


def simpleitk_staple(masks: np.ndarray) -> np.ndarray:
    fusion = sitk.STAPLEImageFilter()
    fusion.SetForegroundValue(1.0)
    probability = fusion.Execute([sitk.GetImageFromArray(mask.astype(np.uint8)) for mask in masks])
    return sitk.GetArrayFromImage(probability) > 0.5


def test_staple_of_three_rasterized_contours_equals_simpleitks():
    masks = np.stack([rasterize_polygon(points, ROWS, COLUMNS) for points in THREE])

    fusion = fuse_contours(THREE, ROWS, COLUMNS)

    assert dice(fusion.mask, simpleitk_staple(masks)) >= 0.99
    assert fusion.is_converged and len(fusion.sensitivity) == len(fusion.specificity) == 3
    assert fusion.sensitivity[2] < fusion.sensitivity[1]  # the smallest outline misses the most


def test_the_traced_contour_rasterizes_to_the_fused_mask():
    fusion = fuse_contours(THREE, ROWS, COLUMNS)

    traced = rasterize_polygon(fusion.points, ROWS, COLUMNS)

    assert dice(traced, fusion.mask) >= 0.98
    assert 8 <= len(fusion.points) < 300
    assert all(0 <= x <= COLUMNS and 0 <= y <= ROWS for x, y in fusion.points)


def test_an_unsimplified_trace_gives_the_mask_back_exactly():
    drawn = rasterize_polygon(ellipse(100, 80, 40, 25, seed=4, jitter=4), 160, 200)  # with two specks

    assert (rasterize_polygon(trace_contour(drawn, tolerance=0), 160, 200) == largest_component(drawn)).all()


def test_a_square_traces_back_to_itself():
    mask = rasterize_polygon([[10, 20], [40, 20], [40, 30], [10, 30]], 50, 50)

    assert trace_contour(mask) == [[10.0, 20.0], [40.0, 20.0], [40.0, 30.0], [10.0, 30.0]]


def test_the_largest_component_is_kept_with_its_holes_filled():
    mask = np.zeros((30, 30), bool)
    mask[2:12, 2:12] = True  # 100 pixels with a hole
    mask[5:8, 5:8] = False
    mask[20:23, 20:23] = True  # a 9-pixel speck

    kept = largest_component(mask)

    assert kept.sum() == 100 and not kept[20:23, 20:23].any()
    assert trace_contour(kept) == [[2.0, 2.0], [12.0, 2.0], [12.0, 12.0], [2.0, 12.0]]


def test_pinched_outline_of_an_image_corner_stays_on_the_image():
    mask = np.zeros((20, 20), bool)
    mask[:5, :5] = True
    mask[15:, 15:] = True  # a smaller second component, dropped

    assert trace_contour(mask) == [[0.0, 0.0], [5.0, 0.0], [5.0, 5.0], [0.0, 5.0]]


def test_an_outline_past_the_point_cap_is_refused():
    many = ellipse(100, 100, 50, 50, seed=5, count=MAX_CONTOUR_POINTS + 1)

    with pytest.raises(ValueError, match="at most 10000"):
        fuse_contours([many, THREE[0]], ROWS, COLUMNS)


def test_a_far_away_or_huge_outline_costs_only_the_image_grid():
    far = [[1e12, 1e12], [1e12 + 50, 1e12], [1e12 + 50, 1e12 + 50]]
    huge = [[-1e9, -1e9], [1e9, -1e9], [1e9, 1e9], [-1e9, 1e9]]

    fusion = fuse_contours([THREE[0], far, huge], ROWS, COLUMNS)

    assert fusion.mask.shape == (ROWS, COLUMNS)
    assert outline_grid([far]) == (MAX_GRID_SIDE, MAX_GRID_SIDE)  # unknown grid: the extent, capped


def test_a_grid_too_large_for_its_raters_is_refused():
    with pytest.raises(ValueError, match="refused"):
        fuse_contours(THREE, 100_000, 100_000)


def test_non_finite_coordinates_are_refused():
    with pytest.raises(ValueError, match="finite"):
        fuse_contours([[[0, 0], [float("nan"), 5], [5, 5]]], ROWS, COLUMNS)
