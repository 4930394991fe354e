"""Inter-observer reproducibility figures of a labeling study. Pure module: numpy and scipy only.

Categories: Fleiss' kappa, Krippendorff's alpha, Cohen's kappa. Masks: Dice and the symmetric
Hausdorff distance, pairwise and summarized over the raters of an image (contours and boxes become
masks first, with masks.answer_mask). Measurements: ICC (Shrout & Fleiss 1979, McGraw & Wong 1996)
and Bland-Altman limits of agreement. Answers come as parallel plain lists (item ids, rater ids,
values); every result serializes to strict JSON (`as_dict()`; an undefined figure is None, never
NaN). Which figure for which field kind, and the conventions: REPRODUCIBILITY.md.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage, stats

from . import masks as mask_consensus

Level = Literal["nominal", "ordinal", "interval", "ratio"]
ICC_FORMS = ("ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)", "ICC(3,k)")


def _finite(value: float) -> float | None:
    """NaN and infinity become None so that results serialize to strict JSON."""
    return float(value) if value is not None and math.isfinite(value) else None


class _Serializable:
    def as_dict(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Agreement(_Serializable):
    """A chance-corrected agreement figure and how much data it rests on."""

    statistic: str
    value: float | None  # None where undefined (no variation at all, nothing pairable)
    items: int
    ratings: int


# Sparse answers -> tables


def _codes(labels: Sequence[Hashable]) -> tuple[list, np.ndarray]:
    """Distinct labels in first-seen order and each label's index; works for any hashable mix."""
    index: dict = {}
    codes = np.array([index.setdefault(label, len(index)) for label in labels], dtype=np.int64)
    return list(index), codes


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))  # np.float64 is a float too


def _sorted(labels: Sequence) -> list:
    """Labels in their natural order (1 < 2 < 10) where they compare, else in first-seen order."""
    try:
        return sorted(labels)
    except TypeError:
        return list(labels)


def _present(*columns: Sequence, values: Sequence) -> tuple[list, ...]:
    """The columns restricted to answers whose value is given (None and NaN are missing answers)."""
    keep = [i for i, value in enumerate(values) if not _missing(value)]
    return (*([column[i] for i in keep] for column in columns), [values[i] for i in keep])


def category_table(item_ids: Sequence, values: Sequence, categories: Sequence | None = None,
                   ) -> tuple[list, list, np.ndarray]:
    """Items x categories answer counts, the table Fleiss' kappa takes: (items, categories, counts).
    Raises ValueError for an answer outside the given categories."""
    item_ids, values = _present(item_ids, values=values)
    items, item_codes = _codes(item_ids)
    categories = list(categories) if categories is not None else _sorted(list(dict.fromkeys(values)))
    column = {category: j for j, category in enumerate(categories)}
    if unknown := set(values) - set(column):
        raise ValueError(f"answers outside the categories: {sorted(map(str, unknown))}")
    counts = np.zeros((len(items), len(categories)), dtype=np.int64)
    np.add.at(counts, (item_codes, [column[value] for value in values]), 1)
    return items, categories, counts


def paired_values(item_ids: Sequence, rater_ids: Sequence, values: Sequence, first: Hashable, second: Hashable,
                  ) -> tuple[list, list, list]:
    """The items both raters answered, in first-seen order: (items, first's values, second's values)."""
    answers: dict[Hashable, dict] = {first: {}, second: {}}
    for item, rater, value in zip(*_present(item_ids, rater_ids, values=values), strict=True):
        if rater in answers:
            answers[rater].setdefault(item, value)  # the first answer counts, as in the shared data sets
    items = [item for item in answers[first] if item in answers[second]]
    return items, [answers[first][item] for item in items], [answers[second][item] for item in items]


def complete_table(item_ids: Sequence, rater_ids: Sequence, values: Sequence, raters: Sequence | None = None,
                   ) -> tuple[list, list, np.ndarray]:
    """Items x raters table of the items every one of `raters` (default: all) answered, for ICC."""
    item_ids, rater_ids, values = _present(item_ids, rater_ids, values=values)
    raters = list(raters) if raters is not None else list(dict.fromkeys(rater_ids))
    column = {rater: j for j, rater in enumerate(raters)}
    rows: dict[Hashable, list] = {}
    for item, rater, value in zip(item_ids, rater_ids, values, strict=True):
        if rater in column:
            row = rows.setdefault(item, [math.nan] * len(raters))
            if math.isnan(row[column[rater]]):
                row[column[rater]] = float(value)
    complete = {item: row for item, row in rows.items() if not any(map(math.isnan, row))}
    return list(complete), raters, np.array(list(complete.values()), dtype=float).reshape(len(complete), len(raters))


# Categories


def fleiss_kappa(counts: ArrayLike) -> Agreement:
    """Fleiss' kappa of an items x categories count table; items may have different numbers of raters."""
    table = np.asarray(counts, dtype=float)
    raters = table.sum(axis=1)
    table, raters = table[raters >= 2], raters[raters >= 2]  # one answer cannot agree with anything
    if not len(table):
        return Agreement("fleiss_kappa", None, 0, 0)
    # Each item's share of agreeing rater pairs with its own n_i; with a constant n this is Fleiss (1971)
    # and statsmodels' fleiss_kappa exactly. Chance agreement pools all answers.
    observed = ((table * (table - 1)).sum(axis=1) / (raters * (raters - 1))).mean()
    shares = table.sum(axis=0) / table.sum()
    expected = float((shares**2).sum())
    value = (observed - expected) / (1 - expected) if expected < 1 else math.nan
    return Agreement("fleiss_kappa", _finite(value), len(table), int(raters.sum()))


def _delta(level: Level) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    if level == "nominal":
        return lambda a, b: (a != b).astype(float)
    if level in ("interval", "ordinal"):  # ordinal runs on mid-ranks, see krippendorff_alpha
        return lambda a, b: (a - b) ** 2
    if level == "ratio":
        def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            total = a + b
            return np.divide(a - b, total, out=np.zeros(np.broadcast(a, b).shape), where=total != 0) ** 2
        return ratio
    raise ValueError(f"unknown level of measurement {level!r}")


def krippendorff_alpha(item_ids: Sequence, values: Sequence, level: Level = "nominal") -> Agreement:
    """Krippendorff's alpha over sparse answers (one row per answer); who answered does not enter alpha."""
    item_ids, values = _present(item_ids, values=values)
    _, item_codes = _codes(item_ids)
    pairable = np.bincount(item_codes, minlength=1)[item_codes] >= 2  # a lone answer has nothing to agree with
    item_codes = item_codes[pairable]
    if level == "nominal":
        positions = _codes([value for value, keep in zip(values, pairable, strict=True) if keep])[1].astype(float)
    else:
        positions = np.asarray(values, dtype=float)[pairable]
    total = positions.size
    if level == "ordinal":
        # Krippendorff's ordinal distance between ranks c and k is (sum of n_g from c to k - (n_c + n_k)/2)^2,
        # which is the squared difference of the values' mid-ranks among the pairable answers.
        _, inverse, counts = np.unique(positions, return_inverse=True, return_counts=True)
        positions = (np.cumsum(counts) - counts / 2)[inverse]
    delta = _delta(level)
    order = np.argsort(item_codes, kind="stable")
    groups = np.split(positions[order], np.flatnonzero(np.diff(item_codes[order])) + 1) if total else []
    observed = sum(float(delta(g[:, None], g[None, :]).sum()) / (len(g) - 1) for g in groups)
    distinct, counts = np.unique(positions, return_counts=True)
    expected = 0.0
    for start in range(0, len(distinct), 2048):  # blocks keep memory bounded for continuous values
        block = slice(start, start + 2048)
        expected += float(counts[block] @ delta(distinct[block, None], distinct[None, :]) @ counts)
    value = 1 - (total - 1) * observed / expected if expected > 0 else math.nan
    return Agreement(f"krippendorff_alpha_{level}", _finite(value), len(groups), int(total))


def cohen_kappa(first: Sequence, second: Sequence, weights: Literal["linear", "quadratic"] | None = None,
                ) -> Agreement:
    """Cohen's kappa of two raters' labels on the same items (aligned lists, see paired_values)."""
    if len(first) != len(second):
        raise ValueError("both raters need one label per item")
    labels, codes = _codes(list(first) + list(second))
    ranked = _sorted(labels)  # weighted kappa needs the categories' order, as sklearn's sorted labels
    codes = np.array([ranked.index(label) for label in labels], dtype=np.int64)[codes]
    size = len(labels)
    observed = np.zeros((size, size))
    np.add.at(observed, (codes[: len(first)], codes[len(first):]), 1)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / max(len(first), 1)
    grid = np.abs(np.subtract.outer(np.arange(size), np.arange(size))).astype(float)
    weight = {None: (grid > 0).astype(float), "linear": grid, "quadratic": grid**2}[weights]
    disagreement = float((weight * expected).sum())
    value = 1 - float((weight * observed).sum()) / disagreement if disagreement > 0 else math.nan
    name = "cohen_kappa" if weights is None else f"cohen_kappa_{weights}"
    return Agreement(name, _finite(value), len(first), 2 * len(first))


def percent_agreement(first: Sequence, second: Sequence) -> float | None:
    """Share of items on which two raters gave the same label."""
    return sum(a == b for a, b in zip(first, second, strict=True)) / len(first) if len(first) else None


# Masks and contours


def _masks(first: ArrayLike, second: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"masks of one image must share its 2-D grid, got {a.shape} and {b.shape}")
    return a, b


def dice(first: ArrayLike, second: ArrayLike) -> float:
    """Dice overlap 2|A and B| / (|A| + |B|) of two masks; two empty masks agree fully (1.0). Raises ValueError."""
    return mask_consensus.dice(*_masks(first, second))


def hausdorff_distance(first: ArrayLike, second: ArrayLike, spacing: tuple[float, float] | None = None,
                       ) -> float | None:
    """Symmetric Hausdorff distance between two masks' foreground pixels, in pixels or, with the pixel
    spacing (row mm, column mm), in mm. 0 for two empty masks, None when only one is empty."""
    a, b = _masks(first, second)
    return _hausdorff(a, b, _distance_map(a, spacing), _distance_map(b, spacing))


def _distance_map(mask: np.ndarray, spacing: tuple[float, float] | None) -> np.ndarray | None:
    """Exact Euclidean distance of every pixel to the mask (as SimpleITK's Maurer map); None for an empty mask."""
    return ndimage.distance_transform_edt(~mask, sampling=spacing or (1.0, 1.0)) if mask.any() else None


def _hausdorff(a: np.ndarray, b: np.ndarray, to_a: np.ndarray | None, to_b: np.ndarray | None) -> float | None:
    if to_a is None or to_b is None:
        return 0.0 if to_a is None and to_b is None else None
    # The directed distance is the farthest pixel of one mask from the other mask.
    return float(max(to_b[a].max(), to_a[b].max()))


@dataclass(frozen=True)
class MaskAgreement(_Serializable):
    """Dice and Hausdorff distance over every pair of raters' masks of one image."""

    raters: int
    pairs: int
    dice_mean: float | None
    dice_median: float | None
    dice_min: float | None
    hausdorff_mean: float | None
    hausdorff_median: float | None
    hausdorff_max: float | None
    hausdorff_undefined_pairs: int  # one mask empty and the other not: no distance exists
    unit: str  # "px" or "mm"


def _summary(values: list[float]) -> tuple[float | None, float | None, float | None, float | None]:
    if not values:
        return None, None, None, None
    return float(np.mean(values)), float(np.median(values)), float(np.min(values)), float(np.max(values))


def mask_agreement(masks: Sequence[ArrayLike], spacing: tuple[float, float] | None = None) -> MaskAgreement:
    """Pairwise Dice and Hausdorff distance of all raters' masks of one image, summarized."""
    arrays = [np.asarray(mask, dtype=bool) for mask in masks]
    maps = [_distance_map(mask, spacing) for mask in arrays]  # one distance map per rater, not per pair
    dices, distances, undefined = [], [], 0
    for i, j in combinations(range(len(arrays)), 2):
        dices.append(dice(arrays[i], arrays[j]))
        distance = _hausdorff(arrays[i], arrays[j], maps[i], maps[j])
        if distance is None:
            undefined += 1
        else:
            distances.append(distance)
    dice_mean, dice_median, dice_min, _ = _summary(dices)
    hausdorff_mean, hausdorff_median, _, hausdorff_max = _summary(distances)
    return MaskAgreement(len(masks), len(dices), dice_mean, dice_median, dice_min, hausdorff_mean,
                         hausdorff_median, hausdorff_max, undefined, "mm" if spacing else "px")


# Measurements


@dataclass(frozen=True)
class IntraclassCorrelation(_Serializable):
    """One ICC form with its confidence interval and F test against ICC = 0."""

    form: str  # "ICC(2,1)": Shrout & Fleiss' name; McGraw & Wong: see REPRODUCIBILITY.md
    value: float | None
    lower: float | None
    upper: float | None
    confidence: float
    f_value: float | None
    df1: float
    df2: float
    p_value: float | None
    items: int
    raters: int


def intraclass_correlations(table: ArrayLike, confidence: float = 0.95) -> dict[str, IntraclassCorrelation]:
    """All six Shrout & Fleiss ICC forms of a complete items x raters table (see complete_table)."""
    x = np.asarray(table, dtype=float)
    if x.ndim != 2 or np.isnan(x).any():
        raise ValueError("ICC needs a complete items x raters table")
    n, k = x.shape
    if n < 2 or k < 2:
        raise ValueError("ICC needs at least two items and two raters")
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_columns = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_total = ((x - grand) ** 2).sum()
    ms_rows = ss_rows / (n - 1)
    ms_columns = ss_columns / (k - 1)
    ms_error = (ss_total - ss_rows - ss_columns) / ((n - 1) * (k - 1))
    ms_within = (ss_total - ss_rows) / (n * (k - 1))
    q = 1 - (1 - confidence) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        icc1 = (ms_rows - ms_within) / (ms_rows + (k - 1) * ms_within)
        icc2 = (ms_rows - ms_error) / (ms_rows + (k - 1) * ms_error + k * (ms_columns - ms_error) / n)
        icc3 = (ms_rows - ms_error) / (ms_rows + (k - 1) * ms_error)
        # ICC(1) and ICC(3): exact F intervals (Shrout & Fleiss 1979, eqs. 6 and 13).
        f1, df1_within = ms_rows / ms_within, n * (k - 1)
        f3, df_error = ms_rows / ms_error, (n - 1) * (k - 1)
        f1_low, f1_up = f1 / stats.f.ppf(q, n - 1, df1_within), f1 * stats.f.ppf(q, df1_within, n - 1)
        f3_low, f3_up = f3 / stats.f.ppf(q, n - 1, df_error), f3 * stats.f.ppf(q, df_error, n - 1)
        # ICC(2): Satterthwaite's approximate degrees of freedom (Shrout & Fleiss 1979, eqs. 10-11).
        a, b = k * icc2 / (n * (1 - icc2)), 1 + k * icc2 * (n - 1) / (n * (1 - icc2))
        v = (a * ms_columns + b * ms_error) ** 2 / ((a * ms_columns) ** 2 / (k - 1) + (b * ms_error) ** 2 / df_error)
        f_star_up, f_star_low = stats.f.ppf(q, n - 1, v), stats.f.ppf(q, v, n - 1)
        low2 = n * (ms_rows - f_star_up * ms_error) / (
            f_star_up * (k * ms_columns + (k * n - k - n) * ms_error) + n * ms_rows)
        up2 = n * (f_star_low * ms_rows - ms_error) / (
            k * ms_columns + (k * n - k - n) * ms_error + n * f_star_low * ms_rows)

    def single(f_bound: float) -> float:
        return (f_bound - 1) / (f_bound + k - 1)

    def average(single_value: float) -> float:  # Spearman-Brown: the mean of k raters
        return k * single_value / (1 + (k - 1) * single_value)

    p1, p3 = stats.f.sf(f1, n - 1, df1_within), stats.f.sf(f3, n - 1, df_error)
    forms = {
        "ICC(1,1)": (icc1, single(f1_low), single(f1_up), f1, df1_within, p1),
        "ICC(2,1)": (icc2, low2, up2, f3, df_error, p3),
        "ICC(3,1)": (icc3, single(f3_low), single(f3_up), f3, df_error, p3),
        "ICC(1,k)": ((ms_rows - ms_within) / ms_rows, 1 - 1 / f1_low, 1 - 1 / f1_up, f1, df1_within, p1),
        "ICC(2,k)": (average(icc2), average(low2), average(up2), f3, df_error, p3),
        "ICC(3,k)": ((ms_rows - ms_error) / ms_rows, 1 - 1 / f3_low, 1 - 1 / f3_up, f3, df_error, p3),
    }
    return {form: IntraclassCorrelation(form, _finite(value), _finite(low), _finite(up), confidence, _finite(f),
                                        float(n - 1), float(df2), _finite(p), n, k)
            for form, (value, low, up, f, df2, p) in forms.items()}


def intraclass_correlation(table: ArrayLike, form: str = "ICC(2,1)", confidence: float = 0.95,
                           ) -> IntraclassCorrelation:
    """One ICC form (default: two-way random, absolute agreement, single rater). Raises ValueError."""
    if form not in ICC_FORMS:
        raise ValueError(f"unknown ICC form {form!r}; one of {ICC_FORMS}")
    return intraclass_correlations(table, confidence)[form]


@dataclass(frozen=True)
class BlandAltman(_Serializable):
    """Bland-Altman agreement of two raters or methods; difference = first - second."""

    pairs: int
    bias: float | None
    sd: float | None
    lower_limit: float | None
    upper_limit: float | None
    bias_ci: tuple[float | None, float | None]
    lower_limit_ci: tuple[float | None, float | None]
    upper_limit_ci: tuple[float | None, float | None]
    confidence: float


def bland_altman(first: Sequence[float], second: Sequence[float], confidence: float = 0.95) -> BlandAltman:
    """Bias, SD of the differences, limits of agreement bias +/- z*SD and their confidence intervals."""
    differences = np.asarray(first, dtype=float) - np.asarray(second, dtype=float)
    n = differences.size
    if n < 2:
        bias = float(differences.mean()) if n else None
        return BlandAltman(n, bias, None, None, None, (None, None), (None, None), (None, None), confidence)
    bias, sd = float(differences.mean()), float(differences.std(ddof=1))
    z = float(stats.norm.ppf(1 - (1 - confidence) / 2))  # 1.96 for 95 % limits
    t = float(stats.t.ppf(1 - (1 - confidence) / 2, n - 1))
    # Bland & Altman (1999): SE(bias) = s/sqrt(n), SE(limit) = s*sqrt(1/n + z^2/(2(n-1))), both with t(n-1).
    bias_half = t * sd / math.sqrt(n)
    limit_half = t * sd * math.sqrt(1 / n + z**2 / (2 * (n - 1)))
    lower, upper = bias - z * sd, bias + z * sd
    return BlandAltman(n, bias, sd, lower, upper, (bias - bias_half, bias + bias_half),
                       (lower - limit_half, lower + limit_half), (upper - limit_half, upper + limit_half), confidence)


# Crowd vs expert, expert vs expert


@dataclass(frozen=True)
class Comparison(_Serializable):
    """Figures between two sources of answers on the items both answered."""

    first: str  # "crowd" (the crowd consensus) or an expert's id
    second: str  # an expert's id
    items: int
    figures: dict[str, float | None]


def _crowd_consensus(answers: Mapping[Hashable, list], kind: str) -> dict[Hashable, object]:
    consensus: dict[Hashable, object] = {}
    for item, given in answers.items():
        if kind == "categorical":
            (best, votes), *rest = Counter(given).most_common()
            if not rest or rest[0][1] < votes:  # a tie is no consensus, as in voting.majority_vote
                consensus[item] = best
        elif kind == "number":
            consensus[item] = float(np.median(np.asarray(given, dtype=float)))
        else:  # mask: pixels more than half of the crowd marked, the engine's majority vote
            consensus[item] = mask_consensus.majority_vote(given)[1]
    return consensus


def _figures(first: list, second: list, kind: str, spacing: tuple[float, float] | None) -> dict[str, float | None]:
    """The kind's figures; every key is present, None where the shared items are too few."""
    if kind == "categorical":
        return {"cohen_kappa": cohen_kappa(first, second).value, "percent_agreement": percent_agreement(first, second)}
    if kind == "number":
        icc = intraclass_correlation(np.column_stack([first, second]), "ICC(2,1)") if len(first) >= 2 else None
        limits = bland_altman(first, second)
        return {"icc_2_1": icc and icc.value, "icc_2_1_lower": icc and icc.lower, "icc_2_1_upper": icc and icc.upper,
                "bias": limits.bias, "lower_limit": limits.lower_limit, "upper_limit": limits.upper_limit}
    dices = [dice(a, b) for a, b in zip(first, second, strict=True)]
    distances = [d for a, b in zip(first, second, strict=True) if (d := hausdorff_distance(a, b, spacing)) is not None]
    return {"dice_mean": _summary(dices)[0], "dice_min": _summary(dices)[2],
            "hausdorff_mean": _summary(distances)[0], "hausdorff_max": _summary(distances)[3]}


def compare_tiers(item_ids: Sequence, rater_ids: Sequence, tiers: Sequence[str], values: Sequence, *,
                  kind: Literal["categorical", "number", "mask"], crowd_tier: str = "crowd",
                  expert_tier: str = "expert", spacing: tuple[float, float] | None = None) -> list[Comparison]:
    """Crowd consensus vs each expert, then each pair of experts; one row per answer, tagged with its
    rater's tier. Categorical: Cohen's kappa and raw agreement; number: ICC(2,1) and Bland-Altman
    (crowd or first expert minus second); mask: Dice and Hausdorff distance per item, averaged."""
    if kind not in ("categorical", "number", "mask"):
        raise ValueError(f"unknown kind {kind!r}")
    crowd: dict[Hashable, list] = defaultdict(list)
    experts: dict[Hashable, dict] = defaultdict(dict)
    for item, rater, tier, value in zip(*_present(item_ids, rater_ids, tiers, values=values), strict=True):
        if tier == crowd_tier:
            crowd[item].append(value)
        elif tier == expert_tier:
            experts[rater].setdefault(item, value)
    sources = [("crowd", _crowd_consensus(crowd, kind))] if crowd else []
    sources += [(str(rater), answers) for rater, answers in experts.items()]
    comparisons = []
    for (first_name, first), (second_name, second) in combinations(sources, 2):
        items = [item for item in first if item in second]
        first_values, second_values = [first[item] for item in items], [second[item] for item in items]
        comparisons.append(Comparison(first_name, second_name, len(items),
                                      _figures(first_values, second_values, kind, spacing)))
    return comparisons
