"""Reproducibility figures against reference implementations and published values, on real data."""
import csv
import json
import math
import random

import krippendorff
import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.distance import directed_hausdorff
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

from labeling.consensus.reproducibility import (
    bland_altman,
    category_table,
    cohen_kappa,
    compare_tiers,
    complete_table,
    dice,
    fleiss_kappa,
    hausdorff_distance,
    intraclass_correlation,
    intraclass_correlations,
    krippendorff_alpha,
    mask_agreement,
    paired_values,
    percent_agreement,
)
from tests.conftest import SHARED_DATA

CROWD = SHARED_DATA / "crowd"
EXPERT_MASKS = SHARED_DATA / "images" / "bu_bil_dataset1" / "ExpertsAnnotations"

# Fleiss (1971) Table 1: 30 patients, 6 psychiatrists, 5 diagnoses (R irr's `diagnoses`); kappa = 0.430.
FLEISS_1971 = [
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5], [2, 2, 2, 4, 4, 4],
    [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4], [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5],
    [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4], [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5],
    [3, 3, 3, 3, 3, 5], [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4], [1, 4, 4, 4, 4, 5],
    [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4], [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
]
# Wikipedia's Fleiss' kappa example: 10 items, 14 raters, 5 categories; kappa = 0.210.
WIKIPEDIA_FLEISS = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]
# Shrout & Fleiss (1979) Table 2: 6 targets x 4 judges.
SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
# Published figures for that table (Shrout & Fleiss 1979; R psych::ICC): value, 95 % CI lower, upper.
SHROUT_FLEISS_ICC = {
    "ICC(1,1)": (0.17, -0.13, 0.72),
    "ICC(2,1)": (0.29, 0.02, 0.76),
    "ICC(3,1)": (0.71, 0.34, 0.95),
    "ICC(1,k)": (0.44, -0.88, 0.91),
    "ICC(2,k)": (0.62, 0.07, 0.93),
    "ICC(3,k)": (0.91, 0.68, 0.99),
}


def read_answers(name: str) -> tuple[list[str], list[str], list[str]]:
    with open(CROWD / name / "answers.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["item"] for row in rows], [row["worker"] for row in rows], [row["label"] for row in rows]


def read_gold(name: str) -> dict[str, str]:
    with open(CROWD / name / "gold.csv", newline="") as handle:
        return {row["item"]: row["label"] for row in csv.DictReader(handle)}


def reliability_matrix(item_ids: list, rater_ids: list, values: list[float]) -> np.ndarray:
    """The krippendorff package's input: raters x items, NaN where a rater skipped an item."""
    items, raters = sorted(set(item_ids)), sorted(set(rater_ids))
    column, row = {item: j for j, item in enumerate(items)}, {rater: i for i, rater in enumerate(raters)}
    matrix = np.full((len(raters), len(items)), np.nan)
    for item, rater, value in zip(item_ids, rater_ids, values, strict=True):
        matrix[row[rater], column[item]] = value
    return matrix


def read_mask(folder: str, image: str = "B01") -> np.ndarray:
    """A BU-BIL expert mask: black is foreground (the ImageJ masks are RGB, the Amira ones grey)."""
    pixels = sitk.GetArrayFromImage(sitk.ReadImage(str(EXPERT_MASKS / folder / f"seg_{image}.png")))
    return (pixels.reshape(pixels.shape[0], pixels.shape[1], -1) == 0).all(axis=-1)


def sitk_hausdorff(first: np.ndarray, second: np.ndarray, spacing: tuple[float, float] = (1.0, 1.0)) -> float:
    images = [sitk.GetImageFromArray(mask.astype(np.uint8)) for mask in (first, second)]
    for image in images:
        image.SetSpacing((spacing[1], spacing[0]))  # ITK orders spacing x (column) first
    measure = sitk.HausdorffDistanceImageFilter()
    measure.Execute(*images)
    return measure.GetHausdorffDistance()


# Fleiss' kappa


def ratings_to_counts(ratings: list[list[int]]) -> np.ndarray:
    item_ids = [item for item, row in enumerate(ratings) for _ in row]
    return category_table(item_ids, [value for row in ratings for value in row])[2]


@pytest.mark.parametrize(("counts", "expected"), [
    (ratings_to_counts(FLEISS_1971), 0.430),
    (np.array(WIKIPEDIA_FLEISS), 0.210),
])
def test_fleiss_kappa_matches_textbook_tables(counts, expected):
    result = fleiss_kappa(counts)

    assert round(result.value, 3) == expected
    assert result.value == pytest.approx(statsmodels_fleiss_kappa(counts), abs=1e-12)
    assert result.items == len(counts)


def test_fleiss_kappa_matches_statsmodels_on_dog_crowd():
    item_ids, _, labels = read_answers("zheng_s4_dog")  # every item has exactly 10 answers
    items, categories, counts = category_table(item_ids, labels)

    result = fleiss_kappa(counts)

    assert (len(items), categories, counts.sum(axis=1).min()) == (807, ["0", "1", "2", "3"], 10)
    assert result.value == pytest.approx(statsmodels_fleiss_kappa(counts), abs=1e-12)
    assert (result.items, result.ratings) == (807, 8070)


def test_fleiss_kappa_with_unequal_raters_uses_each_items_own_pairs():
    # Item A: 3 of 3 agree (P = 1); item B: 2 raters disagree (P = 0); item C: one answer (dropped).
    counts = [[3, 0], [1, 1], [0, 1]]

    result = fleiss_kappa(counts)

    shares = np.array([4, 1]) / 5
    chance = (shares**2).sum()
    assert result.value == pytest.approx((0.5 - chance) / (1 - chance))
    assert (result.items, result.ratings) == (2, 5)


def test_fleiss_kappa_is_undefined_when_everyone_chose_one_category():
    assert fleiss_kappa([[4, 0], [3, 0]]).value is None


# Krippendorff's alpha


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_krippendorff_alpha_matches_package_on_sparse_dog_crowd(level):
    item_ids, rater_ids, labels = read_answers("zheng_s4_dog")
    keep = random.Random(4).sample(range(len(labels)), k=len(labels) * 3 // 5)  # many items left with 0-1 answers
    item_ids, rater_ids = [item_ids[i] for i in keep], [rater_ids[i] for i in keep]
    values = [float(labels[i]) + 1 for i in keep]  # + 1: the ratio level needs positive values

    result = krippendorff_alpha(item_ids, values, level)

    expected = krippendorff.alpha(reliability_matrix(item_ids, rater_ids, values), level_of_measurement=level)
    assert result.value == pytest.approx(expected, abs=1e-10)
    assert result.statistic == f"krippendorff_alpha_{level}"


@pytest.mark.parametrize(("level", "shift"), [("interval", 0.0), ("ordinal", 0.0), ("ratio", 101.0)])
def test_krippendorff_alpha_matches_package_on_emotion_scores(level, shift):
    item_ids, rater_ids, labels = read_answers("zheng_f201_emotion")
    values = [float(label) + shift for label in labels]

    result = krippendorff_alpha(item_ids, values, level)

    expected = krippendorff.alpha(reliability_matrix(item_ids, rater_ids, values), level_of_measurement=level)
    assert result.value == pytest.approx(expected, abs=1e-10)
    assert (result.items, result.ratings) == (700, 7000)


def test_krippendorff_alpha_skips_missing_answers_and_lone_answers():
    result = krippendorff_alpha(["a", "a", "b", "b", "c", "d"], ["x", "x", "y", None, "y", math.nan])

    assert (result.items, result.ratings) == (1, 2)
    assert result.value is None  # one unit with one value: no variation to compare against


# Cohen's kappa


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_sklearn_on_two_dog_workers(weights):
    item_ids, rater_ids, labels = read_answers("zheng_s4_dog")
    items, first, second = paired_values(item_ids, rater_ids, labels, "13", "16")

    result = cohen_kappa(first, second, weights)

    assert len(items) == 139
    assert result.value == pytest.approx(cohen_kappa_score(first, second, weights=weights), abs=1e-12)
    assert (result.items, result.ratings) == (139, 278)


def test_cohen_kappa_of_mixed_unsortable_labels_still_counts_agreement():
    first, second = ["yes", 1, "yes", None], ["yes", 1, 1, None]

    assert cohen_kappa(first, second).value == pytest.approx(cohen_kappa_score(
        [str(v) for v in first], [str(v) for v in second]))
    assert percent_agreement(first, second) == 0.75


# Masks and contours


def test_dice_and_hausdorff_by_hand():
    first, second = np.zeros((5, 6), bool), np.zeros((5, 6), bool)
    first[1:3, 1:3] = True  # 4 pixels
    second[1:3, 2:5] = True  # 6 pixels, 2 shared; farthest pixel (row 1, column 4) is 2 columns from first

    assert dice(first, second) == pytest.approx(2 * 2 / (4 + 6))
    assert hausdorff_distance(first, second) == 2.0
    assert hausdorff_distance(first, second, spacing=(0.5, 1.5)) == 3.0


@pytest.mark.parametrize(("first", "second", "expected_dice", "expected_distance"), [
    (np.zeros((3, 3), bool), np.zeros((3, 3), bool), 1.0, 0.0),
    (np.zeros((3, 3), bool), np.eye(3, dtype=bool), 0.0, None),
])
def test_empty_masks(first, second, expected_dice, expected_distance):
    assert dice(first, second) == expected_dice
    assert hausdorff_distance(first, second) == expected_distance


def test_masks_of_different_grids_are_rejected():
    with pytest.raises(ValueError, match="grid"):
        dice(np.zeros((3, 3)), np.zeros((3, 4)))


@pytest.mark.parametrize("other", ["Person1_ImageJ", "Person2_Amira", "Person3_ImageJ", "Person5_Amira"])
@pytest.mark.parametrize("spacing", [None, (0.5, 0.8)])
def test_hausdorff_matches_simpleitk_on_bu_bil_expert_masks(other, spacing):
    first, second = read_mask("Person1_Amira"), read_mask(other)

    distance = hausdorff_distance(first, second, spacing)

    assert first.shape == (811, 1024)
    assert distance == pytest.approx(sitk_hausdorff(first, second, spacing or (1.0, 1.0)), abs=1e-9)


def test_hausdorff_matches_scipy_directed_hausdorff_on_foreground_points():
    first, second = read_mask("Person2_Amira"), read_mask("Person4_ImageJ")
    a, b = np.argwhere(first) * (0.5, 0.8), np.argwhere(second) * (0.5, 0.8)

    distance = hausdorff_distance(first, second, (0.5, 0.8))

    assert distance == pytest.approx(max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0]), abs=1e-9)


def test_mask_agreement_summarizes_every_pair_of_bu_bil_experts():
    masks = [read_mask(f"Person{person}_Amira") for person in range(1, 6)]

    summary = mask_agreement(masks, spacing=(0.5, 0.5))

    dices = [dice(masks[i], masks[j]) for i in range(5) for j in range(i + 1, 5)]
    distances = [sitk_hausdorff(masks[i], masks[j], (0.5, 0.5)) for i in range(5) for j in range(i + 1, 5)]
    assert (summary.raters, summary.pairs, summary.hausdorff_undefined_pairs, summary.unit) == (5, 10, 0, "mm")
    assert summary.dice_mean == pytest.approx(np.mean(dices))
    assert summary.dice_median == pytest.approx(np.median(dices))
    assert summary.dice_min == pytest.approx(min(dices))
    assert summary.hausdorff_mean == pytest.approx(np.mean(distances))
    assert summary.hausdorff_max == pytest.approx(max(distances))
    assert json.loads(json.dumps(summary.as_dict(), allow_nan=False))["pairs"] == 10


def test_mask_agreement_counts_pairs_with_one_empty_mask_apart():
    drawn = np.zeros((4, 4), bool)
    drawn[1:3, 1:3] = True

    summary = mask_agreement([drawn, drawn, np.zeros((4, 4), bool)])

    assert (summary.pairs, summary.hausdorff_undefined_pairs) == (3, 2)
    assert (summary.dice_mean, summary.dice_min, summary.hausdorff_max) == (pytest.approx(1 / 3), 0.0, 0.0)


# Measurements


def test_icc_matches_shrout_fleiss_published_values():
    results = intraclass_correlations(SHROUT_FLEISS)

    for form, (value, lower, upper) in SHROUT_FLEISS_ICC.items():
        result = results[form]
        assert (round(result.value, 2), round(result.lower, 2), round(result.upper, 2)) == (value, lower, upper), form
    assert results["ICC(2,1)"].f_value == pytest.approx(11.03, abs=0.01)  # psych::ICC: F = 11, df 5 and 15
    assert (results["ICC(2,1)"].df1, results["ICC(2,1)"].df2) == (5.0, 15.0)
    assert results["ICC(1,1)"].df2 == 18.0


@pytest.mark.parametrize("table", [[[1, 2], [3, math.nan]], [[1, 2, 3]]])
def test_icc_rejects_incomplete_or_tiny_tables(table):
    with pytest.raises(ValueError, match="ICC needs"):
        intraclass_correlation(table)


def test_complete_table_keeps_items_every_chosen_rater_answered():
    items, raters, table = complete_table(
        ["a", "a", "b", "b", "b", "c"], ["r1", "r2", "r1", "r2", "r3", "r1"], [1, 2, 3, 4, 5, 6], raters=["r1", "r2"])

    assert (items, raters, table.tolist()) == (["a", "b"], ["r1", "r2"], [[1.0, 2.0], [3.0, 4.0]])


def test_bland_altman_by_hand():
    # Differences 1, 0, 2, -1, 3: mean 1, SD sqrt(10 / 4); z(0.975) = 1.959964, t(0.975, 4 df) = 2.776445.
    result = bland_altman([10, 12, 14, 16, 18], [9, 12, 12, 17, 15])

    sd = math.sqrt(2.5)
    limit_half = 2.776445 * sd * math.sqrt(1 / 5 + 1.959964**2 / 8)
    assert (result.pairs, result.bias, result.sd) == (5, 1.0, pytest.approx(sd))
    assert result.lower_limit == pytest.approx(1 - 1.959964 * sd, abs=1e-6)
    assert result.upper_limit == pytest.approx(1 + 1.959964 * sd, abs=1e-6)
    assert result.bias_ci == pytest.approx((1 - 2.776445 * sd / math.sqrt(5), 1 + 2.776445 * sd / math.sqrt(5)))
    assert result.lower_limit_ci == pytest.approx((result.lower_limit - limit_half, result.lower_limit + limit_half))
    assert result.upper_limit_ci == pytest.approx((result.upper_limit - limit_half, result.upper_limit + limit_half))
    assert json.loads(json.dumps(result.as_dict(), allow_nan=False))["bias_ci"] == pytest.approx(list(result.bias_ci))


def test_bland_altman_of_one_pair_has_no_spread():
    result = bland_altman([3.0], [1.0])

    assert (result.bias, result.sd, result.upper_limit) == (2.0, None, None)


# Crowd vs expert, expert vs expert


def test_compare_tiers_on_dog_crowd_with_gold_and_two_workers_as_experts():
    item_ids, rater_ids, labels = read_answers("zheng_s4_dog")
    gold = read_gold("zheng_s4_dog")
    tiers = ["expert" if rater in ("13", "16") else "crowd" for rater in rater_ids]
    item_ids, rater_ids, tiers = item_ids + list(gold), rater_ids + ["gold"] * len(gold), tiers + ["expert"] * len(gold)

    comparisons = compare_tiers(item_ids, rater_ids, tiers, labels + list(gold.values()), kind="categorical")

    crowd = {}
    for item, rater, label in zip(item_ids, rater_ids, labels, strict=False):  # zip stops before the gold rows
        if rater not in ("13", "16"):
            crowd.setdefault(item, []).append(label)
    majority = {}
    for item, given in crowd.items():
        counts = sorted((given.count(label) for label in set(given)), reverse=True)
        if len(counts) == 1 or counts[0] > counts[1]:
            majority[item] = max(set(given), key=given.count)
    pairs = {(c.first, c.second): c for c in comparisons}
    assert list(pairs) == [("crowd", "13"), ("crowd", "16"), ("crowd", "gold"), ("13", "16"), ("13", "gold"),
                           ("16", "gold")]
    against_gold = pairs["crowd", "gold"]
    shared = [item for item in majority if item in gold]
    assert against_gold.items == len(shared)
    assert against_gold.figures["cohen_kappa"] == pytest.approx(
        cohen_kappa_score([majority[i] for i in shared], [gold[i] for i in shared]))
    _, first, second = paired_values(item_ids, rater_ids, labels + list(gold.values()), "13", "16")
    assert pairs["13", "16"].items == 139
    assert pairs["13", "16"].figures["cohen_kappa"] == pytest.approx(cohen_kappa_score(first, second))
    assert json.loads(json.dumps([c.as_dict() for c in comparisons], allow_nan=False))[0]["first"] == "crowd"


def test_compare_tiers_on_emotion_scores_with_the_expert_score():
    item_ids, rater_ids, labels = read_answers("zheng_f201_emotion")
    gold = read_gold("zheng_f201_emotion")
    values = [float(label) for label in labels] + [float(score) for score in gold.values()]

    (comparison,) = compare_tiers(item_ids + list(gold), rater_ids + ["expert"] * len(gold),
                                  ["crowd"] * len(labels) + ["expert"] * len(gold), values, kind="number")

    medians = {}
    for item, value in zip(item_ids, values, strict=False):
        medians.setdefault(item, []).append(value)
    items = list(medians)
    crowd, expert = [float(np.median(medians[i])) for i in items], [float(gold[i]) for i in items]
    icc = intraclass_correlation(np.column_stack([crowd, expert]), "ICC(2,1)")
    assert (comparison.first, comparison.second, comparison.items) == ("crowd", "expert", 700)
    assert comparison.figures["icc_2_1"] == pytest.approx(icc.value)
    assert comparison.figures["bias"] == pytest.approx(np.mean(np.subtract(crowd, expert)))
    assert comparison.figures["icc_2_1_lower"] < comparison.figures["icc_2_1"] < comparison.figures["icc_2_1_upper"]


def test_compare_tiers_on_bu_bil_masks_with_imagej_tracings_as_the_crowd():
    images, item_ids, rater_ids, tiers, masks = ["B01", "B02"], [], [], [], []
    for image in images:
        for person in range(1, 6):
            item_ids.append(image), rater_ids.append(f"imagej{person}"), tiers.append("crowd")
            masks.append(read_mask(f"Person{person}_ImageJ", image))
        for person in (1, 2):
            item_ids.append(image), rater_ids.append(f"expert{person}"), tiers.append("expert")
            masks.append(read_mask(f"Person{person}_Amira", image))

    crowd_first, crowd_second, experts = compare_tiers(item_ids, rater_ids, tiers, masks, kind="mask")

    majority = {image: np.mean([read_mask(f"Person{p}_ImageJ", image) for p in range(1, 6)], axis=0) > 0.5
                for image in images}
    dices = [dice(majority[image], read_mask("Person1_Amira", image)) for image in images]
    assert (crowd_first.first, crowd_first.second, crowd_first.items) == ("crowd", "expert1", 2)
    assert crowd_first.figures["dice_mean"] == pytest.approx(np.mean(dices))
    assert crowd_second.second == "expert2"
    assert experts.figures["hausdorff_max"] == pytest.approx(
        max(sitk_hausdorff(read_mask("Person1_Amira", i), read_mask("Person2_Amira", i)) for i in images))


@pytest.mark.parametrize(("kind", "values", "keys"), [
    ("categorical", ["a", "a", "b", "a"], {"cohen_kappa", "percent_agreement"}),
    ("number", [1.0, 2.0, 3.0, 4.0], {"icc_2_1", "icc_2_1_lower", "icc_2_1_upper", "bias", "lower_limit",
                                      "upper_limit"}),
    ("mask", [np.eye(3, dtype=bool)] * 4, {"dice_mean", "dice_min", "hausdorff_mean", "hausdorff_max"}),
])
def test_compare_tiers_without_shared_items_reports_every_figure_as_none(kind, values, keys):
    comparisons = compare_tiers(["x", "x", "y", "z"], ["w1", "w2", "e1", "e2"], ["crowd", "crowd", "expert", "expert"],
                                values, kind=kind)

    assert [(c.first, c.second, c.items) for c in comparisons] == [("crowd", "e1", 0), ("crowd", "e2", 0),
                                                                   ("e1", "e2", 0)]
    assert all(set(c.figures) == keys and set(c.figures.values()) == {None} for c in comparisons)


def test_category_table_rejects_answers_outside_the_categories():
    with pytest.raises(ValueError, match="outside"):
        category_table(["a", "b"], ["yes", "maybe"], categories=["yes", "no"])


def test_category_table_orders_numeric_categories_naturally():
    _, categories, counts = category_table(["a", "a", "b"], [10, 2, 2])

    assert (categories, counts.tolist()) == ([2, 10], [[1, 1], [1, 0]])
