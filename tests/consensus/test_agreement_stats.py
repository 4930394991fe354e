"""Agreement figures of the stage report, against reference computations: the one-way ICC from
statsmodels' ANOVA table with Shrout & Fleiss' F interval, Bland-Altman by hand, landmark distances
and the Hausdorff distance of a known pair in mm."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm

from labeling.consensus.agreement_stats import (
    bland_altman_points,
    crowd_reliability,
    first_readings,
    landmark_distance,
    paired_agreement,
    summary,
)
from labeling.consensus.masks import answer_mask
from labeling.consensus.reproducibility import hausdorff_distance


def simulated_readings(seed: int = 3) -> tuple[list[int], list[float], np.ndarray]:
    """60 LV lengths read three times each by different readers (SD 2 mm around truths SD 8 mm)."""
    rng = np.random.default_rng(seed)
    truths = rng.normal(80, 8, 60)
    table = truths[:, None] + rng.normal(0, 2, (60, 3))
    items = [item for item in range(60) for _ in range(3)]
    return items, table.ravel().tolist(), table


def test_crowd_icc_equals_the_one_way_anova_reference():
    items, values, table = simulated_readings()
    frame = pd.DataFrame({"item": [str(item) for item in items], "value": values})
    anova = anova_lm(ols("value ~ C(item)", data=frame).fit())
    between, within = anova["mean_sq"].iloc[0], anova["mean_sq"].iloc[1]
    n, k = table.shape
    reference = (between - within) / (between + (k - 1) * within)
    f = between / within  # Shrout & Fleiss (1979), eq. 6: F / F(0.975; n-1, n(k-1)) and F * F(0.975; n(k-1), n-1)
    f_low, f_up = f / stats.f.ppf(0.975, n - 1, n * (k - 1)), f * stats.f.ppf(0.975, n * (k - 1), n - 1)

    figures = crowd_reliability(items, values)

    icc = figures["icc"]
    assert icc["form"] == "ICC(1,1)" and (icc["items"], icc["raters"]) == (60, 3)
    assert icc["value"] == pytest.approx(reference, abs=1e-12)
    assert icc["lower"] == pytest.approx((f_low - 1) / (f_low + k - 1), abs=1e-12)
    assert icc["upper"] == pytest.approx((f_up - 1) / (f_up + k - 1), abs=1e-12)
    assert 0.8 < icc["lower"] < icc["value"] < icc["upper"] < 1


def test_crowd_bland_altman_compares_each_items_first_two_readings():
    items, values, table = simulated_readings()
    differences = table[:, 0] - table[:, 1]

    limits = crowd_reliability(items, values)["bland_altman"]

    sd = differences.std(ddof=1)
    assert limits["bias"] == pytest.approx(differences.mean())
    assert (limits["lower_limit"], limits["upper_limit"]) == pytest.approx(
        (differences.mean() - 1.959964 * sd, differences.mean() + 1.959964 * sd), abs=1e-5)


def test_first_readings_keep_the_median_count_of_readings():
    table = first_readings(["a", "a", "a", "b", "b", "c", "c", "c", "d"], [1, 2, 3, 4, 5, 6, 7, 8, 9])

    assert table.tolist() == [[1, 2, 3], [6, 7, 8]]  # counts 3, 2, 3: k = 3; b has too few, d one


def test_crowd_reliability_without_repeated_readings_is_undefined():
    figures = crowd_reliability(["a", "b"], [1.0, 2.0])

    assert figures["icc"] is None and figures["bland_altman"]["pairs"] == 0 and figures["plot"] == []


def test_paired_agreement_of_crowd_and_expert():
    crowd, expert = [10, 12, 14, 16, 18], [9, 12, 12, 17, 15]

    figures = paired_agreement(crowd, expert)

    assert figures["bland_altman"]["bias"] == 1.0
    assert figures["icc"]["form"] == "ICC(2,1)" and -1 < figures["icc"]["lower"] < figures["icc"]["value"] < 1
    assert figures["plot"] == [[9.5, 1.0], [12.0, 0.0], [13.0, 2.0], [16.5, -1.0], [16.5, 3.0]]


def test_bland_altman_points_are_capped_evenly():
    points = bland_altman_points(np.arange(1000.0), np.zeros(1000), max_points=5)

    assert [mean for mean, _ in points] == [0.0, 125.0, 250.0, 374.5, 499.5]  # pairs 0, 250, 500, 749, 999


def test_landmark_distance_in_millimetres():
    # Offsets (3, 4) px and (0, 2) px on 0.5 mm rows × 0.25 mm columns: (0.75, 2.0) mm and (0, 1.0) mm.
    distance = landmark_distance([[13, 24], [0, 2]], [[10, 20], [0, 0]], spacing=(0.5, 0.25))

    assert distance == pytest.approx((math.hypot(0.75, 2.0) + 1.0) / 2)
    with pytest.raises(ValueError, match="differ"):
        landmark_distance([[0, 0]], [[0, 0], [1, 1]])


def test_hausdorff_of_two_known_contours_in_millimetres():
    # Squares 10..30 and 10..36 wide (same rows): the farthest pixel of the wider one is 6 columns
    # away from the narrower, 6 × 0.7 mm.
    narrow = answer_mask({"points": [[10, 10], [30, 10], [30, 30], [10, 30]]}, 50, 50)
    wide = answer_mask({"points": [[10, 10], [36, 10], [36, 30], [10, 30]]}, 50, 50)

    assert hausdorff_distance(narrow, wide) == 6.0
    assert hausdorff_distance(narrow, wide, spacing=(0.5, 0.7)) == pytest.approx(4.2)


def test_summary_ignores_undefined_figures():
    assert summary([1.0, None, 3.0], "mm") == {"count": 2, "mean": 2.0, "median": 2.0, "min": 1.0, "max": 3.0,
                                              "unit": "mm"}
