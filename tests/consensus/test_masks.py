"""Mask consensus: STAPLE against SimpleITK on real multi-rater masks (BU-BIL), majority vote,
contour rasterizing and RLE."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from labeling.consensus.masks import (
    answer_mask,
    decode_rle,
    dice,
    encode_rle,
    majority_vote,
    rasterize_polygon,
    staple,
)
from tests.conftest import SHARED_DATA

BU_BIL = SHARED_DATA / "images" / "bu_bil_dataset1"
IMAGES = ["B01", "B02", "B03", "B04", "B05", "B06"]


def expert_masks(image: str) -> np.ndarray:
    """The 10 expert masks of one image, (10, 811, 1024); black is foreground."""
    paths = sorted(BU_BIL.glob(f"ExpertsAnnotations/Person*/seg_{image}.png"))
    assert len(paths) == 10
    return np.stack([np.asarray(Image.open(path).convert("L")) < 128 for path in paths])


def gold_standard(image: str) -> np.ndarray:
    return np.asarray(Image.open(BU_BIL / "GoldStandard" / f"seg_{image}.png").convert("L")) < 128


def simpleitk_staple(masks: np.ndarray, confidence_weight: float = 1.0) -> tuple[np.ndarray, sitk.STAPLEImageFilter]:
    fusion = sitk.STAPLEImageFilter()
    fusion.SetForegroundValue(1.0)
    fusion.SetConfidenceWeight(confidence_weight)
    probability = fusion.Execute([sitk.GetImageFromArray(mask.astype(np.uint8)) for mask in masks])
    return sitk.GetArrayFromImage(probability), fusion


def reference_staple(masks: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ITK's loop transcribed pixel-wise (products, no grouping), for a fixed number of rounds."""
    marked = masks.reshape(len(masks), -1).astype(np.float64)
    posterior = marked.mean(axis=0)
    prior = posterior.mean()
    for _ in range(iterations):
        sensitivity = marked @ posterior / posterior.sum()
        specificity = (1 - marked) @ (1 - posterior) / (1 - posterior).sum()
        alpha = np.prod(np.where(marked > 0, sensitivity[:, None], 1 - sensitivity[:, None]), axis=0)
        beta = np.prod(np.where(marked > 0, 1 - specificity[:, None], specificity[:, None]), axis=0)
        posterior = prior * alpha / (prior * alpha + (1 - prior) * beta)
    return posterior.reshape(masks.shape[1:]), sensitivity, specificity


@pytest.mark.parametrize("image", IMAGES)
def test_staple_agrees_with_simpleitk_on_bu_bil_experts(image):
    masks = expert_masks(image)
    reference, fusion = simpleitk_staple(masks)

    result = staple(masks)

    assert dice(result.mask, reference > 0.5) >= 0.99  # measured: 1.0 on B01–B24
    assert np.abs(result.probability - reference).max() < 1e-6  # measured: below 1e-9
    assert np.abs(result.sensitivity - fusion.GetSensitivity()).max() < 1e-6  # measured: below 1e-10
    assert np.abs(result.specificity - fusion.GetSpecificity()).max() < 1e-6
    assert result.is_converged
    assert result.iterations == fusion.GetElapsedIterations() + 1  # ITK counts the converged round out


def test_staple_confidence_weight_follows_simpleitk():
    masks = expert_masks("B03")
    reference, fusion = simpleitk_staple(masks, confidence_weight=2.0)

    result = staple(masks, confidence_weight=2.0)

    assert result.prior == pytest.approx(2.0 * masks.mean())
    assert dice(result.mask, reference > 0.5) >= 0.99
    assert np.abs(result.sensitivity - fusion.GetSensitivity()).max() < 1e-6


@pytest.mark.parametrize("image", IMAGES)
def test_majority_vote_and_staple_agree_with_the_gold_standard(image):
    masks, gold = expert_masks(image), gold_standard(image)

    share, majority = majority_vote(masks)
    result = staple(masks)

    # Measured on B01–B06: majority 0.93–0.98, STAPLE 0.79–0.95 (STAPLE trusts the sensitive
    # experts and draws larger cells than the dataset's own fusion). Loose floors, not targets.
    assert dice(majority, gold) >= 0.9
    assert dice(result.mask, gold) >= 0.75
    assert share.min() >= 0.0 and share.max() <= 1.0


@pytest.mark.parametrize("raters", [3, 25])
def test_staple_agrees_with_simpleitk_on_random_raters(raters):
    rng = np.random.default_rng(raters)
    truth = np.zeros((40, 50), bool)
    truth[10:30, 12:40] = True
    sensitivity = rng.uniform(0.6, 0.95, raters)[:, None, None]
    false_positive = rng.uniform(0.01, 0.2, raters)[:, None, None]
    draw = rng.random((raters, *truth.shape))
    masks = np.where(truth, draw < sensitivity, draw < false_positive)
    reference, fusion = simpleitk_staple(masks)

    result = staple(masks)

    assert dice(result.mask, reference > 0.5) >= 0.99
    assert np.abs(result.sensitivity - fusion.GetSensitivity()).max() < 1e-6
    assert np.abs(result.specificity - fusion.GetSpecificity()).max() < 1e-6


def test_staple_with_seventy_raters_matches_the_pixelwise_loop():
    rng = np.random.default_rng(70)
    truth = np.zeros((20, 30), bool)
    truth[5:15, 5:25] = True
    draw = rng.random((70, *truth.shape))
    masks = np.where(truth, draw < 0.9, draw < 0.05)

    result = staple(masks)
    probability, sensitivity, specificity = reference_staple(masks, iterations=result.iterations)

    assert np.abs(result.probability - probability).max() < 1e-9
    assert np.abs(result.sensitivity - sensitivity).max() < 1e-12
    assert np.abs(result.specificity - specificity).max() < 1e-12


def test_staple_stopped_early_says_it_has_not_converged():
    result = staple(expert_masks("B01"), max_iterations=2)

    assert (result.iterations, result.is_converged) == (2, False)


@pytest.mark.parametrize("fill", [False, True])
def test_staple_on_unanimous_masks_returns_them(fill):
    masks = np.zeros((4, 8, 8), bool)
    masks[:, 2:5, 3:7] = True
    if fill:
        masks[:] = True

    result = staple(masks)

    assert np.array_equal(result.mask, masks[0])
    assert np.allclose(result.probability, masks[0])
    assert np.allclose(result.sensitivity, 1.0) and np.allclose(result.specificity, 1.0)
    assert result.is_converged


def test_staple_on_empty_masks_is_empty():
    result = staple(np.zeros((3, 5, 5), bool))

    assert not result.mask.any()
    assert np.isfinite(result.probability).all()


@pytest.mark.parametrize("masks", [[], [np.zeros((3, 3)), np.zeros((3, 4))]])
def test_staple_refuses_no_masks_or_mixed_shapes(masks):
    with pytest.raises(ValueError):
        staple(masks)


def test_staple_refuses_a_prior_outside_zero_one():
    with pytest.raises(ValueError):
        staple(np.ones((2, 3, 3)), prior=1.5)


def test_majority_vote_tie_is_background():
    first, second = np.zeros((2, 2), bool), np.zeros((2, 2), bool)
    first[0, 0] = second[0, 0] = True
    first[1, 1] = True

    share, mask = majority_vote([first, second])

    assert share.tolist() == [[1.0, 0.0], [0.0, 0.5]]
    assert mask.tolist() == [[True, False], [False, False]]


@pytest.mark.parametrize(("points", "area"), [
    ([[0, 0], [10, 0], [10, 10], [0, 10]], 100),  # pixel centres on the right and bottom edges are out
    ([[10, 0], [10, 10], [0, 10], [0, 0]], 100),  # either orientation
    ([[2.5, 3.5], [7.5, 3.5], [7.5, 8.5], [2.5, 8.5]], 25),
    ([[5, 5], [45, 5], [45, 35], [5, 35]], 40 * 30),
    ([[-5, -5], [5, -5], [5, 5], [-5, 5]], 25),  # clipped by the image's top-left corner
    ([[0, 0], [10, 0]], 0),  # not a polygon
])
def test_rasterized_contour_covers_its_area(points, area):
    assert rasterize_polygon(points, 50, 60).sum() == area


def test_rasterized_square_sits_on_its_pixels():
    mask = rasterize_polygon([[2, 1], [5, 1], [5, 3], [2, 3]], 5, 7)

    assert np.argwhere(mask).tolist() == [[1, 2], [1, 3], [1, 4], [2, 2], [2, 3], [2, 4]]


def test_rasterized_triangle_is_close_to_its_area():
    mask = rasterize_polygon([[10, 10], [90, 10], [10, 70]], 100, 100)

    assert abs(int(mask.sum()) - 80 * 60 / 2) <= 80  # within about half the perimeter


def test_self_crossing_freehand_fills_by_the_even_odd_rule():
    # Two overlapping squares traced as one line: the overlap is crossed twice, so it is a hole.
    outline = [[0, 0], [20, 0], [20, 20], [10, 20], [10, 10], [30, 10], [30, 30], [0, 30]]

    mask = rasterize_polygon(outline, 40, 40)

    assert not mask[15, 15]  # row 15, column 15: inside both loops
    assert mask[5, 5] and mask[25, 25]


@pytest.mark.parametrize(("runs", "rows", "columns", "expected"), [
    ([0, 4], 2, 2, [[1, 1], [1, 1]]),
    ([4], 2, 2, [[0, 0], [0, 0]]),
    ([1, 2, 1], 2, 2, [[0, 1], [1, 0]]),
    ([2, 3, 1], 2, 3, [[0, 0, 1], [1, 1, 0]]),
])
def test_rle_decodes_row_major_starting_with_background(runs, rows, columns, expected):
    mask = decode_rle(runs, rows, columns)

    assert mask.astype(int).tolist() == expected
    assert encode_rle(mask) == runs


@pytest.mark.parametrize("runs", [[1, 2], [3, 2], [-1, 5]])
def test_rle_refuses_runs_that_do_not_cover_the_image(runs):
    with pytest.raises(ValueError):
        decode_rle(runs, 2, 2)


def test_rle_round_trips_a_real_mask():
    mask = expert_masks("B01")[0]

    assert np.array_equal(decode_rle(encode_rle(mask), *mask.shape), mask)


@pytest.mark.parametrize(("answer", "area"), [
    ({"frame": 1, "rows": 4, "columns": 5, "rle": [3, 4, 13]}, 4),
    ({"frame": 1, "points": [[1, 1], [4, 1], [4, 3], [1, 3]]}, 6),
    ({"frame": 1, "x": 0, "y": 0, "width": 2, "height": 3}, 6),
])
def test_answers_become_masks_on_the_image_grid(answer, area):
    mask = answer_mask(answer, 4, 5)

    assert mask.shape == (4, 5)
    assert mask.sum() == area


def test_a_brush_mask_on_another_grid_is_refused():
    with pytest.raises(ValueError):
        answer_mask({"frame": 1, "rows": 2, "columns": 2, "rle": [4]}, 4, 5)
