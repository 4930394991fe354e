"""Consensus of numbers, points and frame choices from several workers. Pure module: numpy only.

`measurement_consensus` fuses numbers (LVEF %, lengths, areas) given by workers to items. Each
worker w is modelled as answer = truth + bias_w + noise, the noise with standard deviation
noise_w. The model is fitted on the overlap between workers (and on gold items, whose truth is
clamped) by alternating three vectorized steps, all of them per-group sums or one sort:

1. bias: per worker, the median of their residuals (a typical offset, not one pulled by a few
   wild answers), shrunk towards 0 by empirical Bayes: the less the raw offsets vary between
   workers beyond what sampling explains, and the fewer answers a worker gave, the more;
2. noise: per worker, the Huber-clipped RMS of their bias-corrected answers around the others'
   (leave-one-out) consensus, so a worker's own answer cannot make them look precise, shrunk
   towards the pooled spread by `prior_answers` answers' worth;
3. truth: per item, a Huber-weighted mean of the bias-corrected answers, each weighted by
   1 / noise_w² (a careful worker counts more; an answer beyond `huber_k` noise SDs less).

Intervals are truth ± z · standard error, the error being the larger of the model's (from the
workers' noise) and the answers' own scatter. Given gold, the gold items' unclamped estimates
also measure how far the truth lies beyond what the crowd's noise explains (`model_error`), and
every other interval widens by it.

`point_consensus` (geometric median, per landmark) and `frame_consensus` (median frame) give a
robust location with a spread for spatial points and frame choices.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

MAD_TO_SD = 1.4826  # MAD of a normal sample times this estimates its standard deviation
# Down-weight only answers beyond 3 noise SDs: in crowd measurements a far answer is often a
# real disagreement worth keeping (on the emotion crowd, k = 2 and below lose to the plain mean).
HUBER_K = 3.0
MEDIAN_VARIANCE = math.pi / 2  # a normal sample's median varies pi/2 times as much as its mean


@dataclass(frozen=True)
class MeasurementConsensus:
    """Per item (index = item id) and per worker (index = worker id) estimates; nan where none."""

    estimate: np.ndarray  # the consensus value
    lower: np.ndarray  # the interval's bounds (equal to the estimate on clamped gold items)
    upper: np.ndarray
    standard_error: np.ndarray  # including the model error, 0 on gold items
    answers: np.ndarray  # answers per item
    is_gold: np.ndarray  # bool: the estimate is the gold value
    worker_bias: np.ndarray  # what a worker adds to the truth, typically
    worker_noise: np.ndarray  # the SD of a worker's answers around truth + bias
    worker_answers: np.ndarray
    model_error: float  # SD of gold around the crowd's estimate beyond its standard error; 0 without gold
    iterations: int
    is_converged: bool


def measurement_consensus(
    items: np.ndarray,
    workers: np.ndarray,
    values: np.ndarray,
    *,
    gold: Mapping[int, float] | None = None,
    item_count: int | None = None,
    worker_count: int | None = None,
    coverage: float = 0.95,
    huber_k: float | None = HUBER_K,
    estimate_bias: bool = True,
    prior_answers: float = 5.0,
    max_iterations: int = 100,
    tolerance: float = 1e-6,
) -> MeasurementConsensus:
    """Fuse numeric answers given as parallel arrays (item id, worker id: integers from 0).

    `gold` maps item ids to known values: those items are clamped (and anchor the workers' biases).
    `huber_k` None gives plain weighted means. `prior_answers` is how many answers' worth of the
    pooled noise each worker's own noise estimate is shrunk towards. Iterations stop when no
    estimate moves by more than `tolerance` times the pooled noise. Raises ValueError on arrays
    of different lengths, negative ids or non-finite values."""
    items, workers, values = _check(items, workers, values)
    item_count = int(item_count if item_count is not None else (items.max() + 1 if items.size else 0))
    worker_count = int(worker_count if worker_count is not None else (workers.max() + 1 if workers.size else 0))
    gold_items = np.array(sorted(gold or {}), dtype=np.int64)
    gold_values = np.array([gold[item] for item in gold_items], dtype=np.float64) if gold else np.empty(0)
    if len(gold_items) and (gold_items.min() < 0 or gold_items.max() >= item_count):
        raise ValueError("gold names an item id outside the items")
    answers = np.bincount(items, minlength=item_count).astype(np.float64)
    worker_answers = np.bincount(workers, minlength=worker_count).astype(np.float64)

    truth = group_median(items, values, item_count)
    pooled = _pooled_scale(values - truth[items])
    truth[gold_items] = gold_values
    bias = np.zeros(worker_count)
    noise = np.full(worker_count, pooled)
    iterations, is_converged = 0, False
    while iterations < max_iterations and items.size:
        iterations += 1
        if estimate_bias:
            bias = _worker_bias(workers, values - truth[items], noise, worker_answers,
                                is_centered=not len(gold_items))
        corrected = values - bias[workers]
        noise = _worker_noise(items, workers, corrected, truth, noise, worker_answers, pooled, huber_k,
                              prior_answers)
        new_truth, _ = _truth(items, corrected, truth, noise[workers], item_count, huber_k)
        new_truth[gold_items] = gold_values
        change = float(np.nanmax(np.abs(new_truth - truth), initial=0.0))
        truth = new_truth
        if change <= tolerance * pooled:
            is_converged = True
            break

    corrected = values - bias[workers]
    truth, weight = _truth(items, corrected, truth, noise[workers], item_count, huber_k)
    standard_error = _standard_error(items, corrected, truth, noise[workers], weight, answers)
    is_gold = np.zeros(item_count, bool)
    is_gold[gold_items] = True
    model_error = 0.0
    if len(gold_items):
        # The gold items' own estimates (their truth recomputed from the answers, not clamped)
        # against their gold values: the error that the crowd's noise does not explain.
        excess = (truth[gold_items] - gold_values) ** 2 - standard_error[gold_items] ** 2
        if np.isfinite(excess).any():
            model_error = math.sqrt(max(0.0, float(np.nanmean(excess))))
        truth[gold_items] = gold_values
    spread = np.where(is_gold, 0.0, np.sqrt(standard_error ** 2 + model_error ** 2))
    z = NormalDist().inv_cdf(0.5 + coverage / 2)
    unanswered = (answers == 0) & ~is_gold
    truth[unanswered] = spread[unanswered] = np.nan
    bias[worker_answers == 0] = noise[worker_answers == 0] = np.nan
    return MeasurementConsensus(
        estimate=truth, lower=truth - z * spread, upper=truth + z * spread, standard_error=spread,
        answers=answers.astype(np.int64), is_gold=is_gold, worker_bias=bias, worker_noise=noise,
        worker_answers=worker_answers.astype(np.int64), model_error=model_error, iterations=iterations,
        is_converged=is_converged)


def _truth(items: np.ndarray, corrected: np.ndarray, truth: np.ndarray, sd: np.ndarray, item_count: int,
           huber_k: float | None) -> tuple[np.ndarray, np.ndarray]:
    """One Huber IRLS step per item: (new truth, each answer's weight)."""
    weight = _huber_weight((corrected - truth[items]) / sd, huber_k) / sd ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        new_truth = np.bincount(items, weight * corrected, item_count) / np.bincount(items, weight, item_count)
    return new_truth, weight


def _worker_bias(workers: np.ndarray, residual: np.ndarray, noise: np.ndarray, worker_answers: np.ndarray, *,
                 is_centered: bool) -> np.ndarray:
    """Each worker's median residual, shrunk by empirical Bayes towards 0."""
    worker_count = len(worker_answers)
    present = worker_answers > 0
    raw = np.nan_to_num(group_median(workers, residual, worker_count))
    with np.errstate(invalid="ignore", divide="ignore"):
        sampling = MEDIAN_VARIANCE * noise ** 2 / worker_answers  # the raw median's variance
    # Between-worker variance of true biases: the raw medians' variance less what sampling explains.
    between = max(0.0, float(np.var(raw[present]) - np.mean(sampling[present]))) if present.any() else 0.0
    bias = np.where(present, raw * between / np.maximum(between + sampling, 1e-300), 0.0)
    if is_centered:
        # Without gold the truth's origin is the crowd's own: biases average 0 over the answers.
        bias = np.where(present, bias - float(worker_answers @ bias / worker_answers.sum()), 0.0)
    return bias


def _worker_noise(items: np.ndarray, workers: np.ndarray, corrected: np.ndarray, truth: np.ndarray,
                  noise: np.ndarray, worker_answers: np.ndarray, pooled: float, huber_k: float | None,
                  prior_answers: float) -> np.ndarray:
    """Each worker's noise SD: the clipped RMS of their answers around the others' consensus.

    The others' consensus has an error of its own, which this counts as the worker's: that keeps
    the estimate conservative, and no worker can look perfect (and take all the weight) because a
    small crowd happened to agree with them."""
    item_count, worker_count = len(truth), len(noise)
    sd = noise[workers]
    weight = _huber_weight((corrected - truth[items]) / sd, huber_k) / sd ** 2
    item_weight = np.bincount(items, weight, item_count)
    item_sum = np.bincount(items, weight * corrected, item_count)
    others = item_weight[items] - weight
    usable = others > 1e-9 * item_weight[items]  # an item this worker answered alone says nothing
    with np.errstate(invalid="ignore", divide="ignore"):
        leave_one_out = (item_sum[items] - weight * corrected) / others
        squared = (corrected - leave_one_out) ** 2
        limit = (huber_k if huber_k else np.inf) ** 2 * (sd ** 2 + 1.0 / others)
        clipped = np.where(usable, np.minimum(squared, limit) / _clipped_second_moment(huber_k), 0.0)
    count = np.bincount(workers[usable], minlength=worker_count).astype(np.float64)
    total = np.bincount(workers, clipped, worker_count)
    variance = (total + prior_answers * pooled ** 2) / (count + prior_answers)
    return np.sqrt(np.maximum(variance, (1e-6 * pooled) ** 2))


def _standard_error(items: np.ndarray, corrected: np.ndarray, truth: np.ndarray, sd: np.ndarray,
                    weight: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """Per item: the larger of the model's error (from the workers' noise) and the answers' scatter."""
    item_count = len(truth)
    total = np.bincount(items, weight, item_count)
    with np.errstate(invalid="ignore", divide="ignore"):
        model = np.bincount(items, weight ** 2 * sd ** 2, item_count) / total ** 2
        # Sandwich estimate, with the small-sample factor n / (n - 1); it needs two answers.
        scatter = (np.bincount(items, (weight * (corrected - truth[items])) ** 2, item_count) / total ** 2
                   * answers / np.maximum(answers - 1, 1))
    scatter[answers < 2] = 0.0
    return np.sqrt(np.fmax(model, scatter))


def _huber_weight(standardized: np.ndarray, huber_k: float | None) -> np.ndarray:
    if not huber_k:
        return np.ones_like(standardized)
    magnitude = np.abs(standardized)
    return np.where(magnitude > huber_k, huber_k / np.maximum(magnitude, 1e-300), 1.0)


def _clipped_second_moment(huber_k: float | None) -> float:
    """E[min(u², k²)] for a standard normal u: clipped squares underestimate a variance by this factor."""
    if not huber_k:
        return 1.0
    normal = NormalDist()
    tail = 1.0 - normal.cdf(huber_k)
    return (1.0 - 2.0 * tail) - 2.0 * huber_k * normal.pdf(huber_k) + 2.0 * huber_k ** 2 * tail


def _pooled_scale(residual: np.ndarray) -> float:
    """A robust SD of residuals; answers are often tied (many exact zeros), so MAD can be 0."""
    if not residual.size:
        return 1.0
    for scale in (MAD_TO_SD * float(np.median(np.abs(residual))),
                  math.sqrt(math.pi / 2) * float(np.mean(np.abs(residual))),
                  float(np.std(residual))):
        if scale > 0:
            return scale
    return 1.0


def _check(items: np.ndarray, workers: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, ...]:
    items, workers = np.asarray(items, np.int64).ravel(), np.asarray(workers, np.int64).ravel()
    values = np.asarray(values, np.float64).ravel()
    if not len(items) == len(workers) == len(values):
        raise ValueError(f"items, workers and values differ in length: {len(items)}, {len(workers)}, {len(values)}")
    if (items < 0).any() or (workers < 0).any():
        raise ValueError("item and worker ids are integers from 0")
    if not np.isfinite(values).all():
        raise ValueError("values must be finite numbers")
    return items, workers, values


def group_median(groups: np.ndarray, values: np.ndarray, group_count: int) -> np.ndarray:
    """The median of `values` per group id (nan for an empty group), with one sort for all groups."""
    groups, values = np.asarray(groups, np.int64), np.asarray(values, np.float64)
    order = np.lexsort((values, groups))
    ordered = values[order]
    counts = np.bincount(groups, minlength=group_count)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    median = np.full(group_count, np.nan)
    present = counts > 0
    low, high = starts + (counts - 1) // 2, starts + counts // 2
    median[present] = (ordered[low[present]] + ordered[high[present]]) / 2
    return median


# --- points and frames ------------------------------------------------------------------------


@dataclass(frozen=True)
class PointConsensus:
    location: np.ndarray  # (2,) or (landmarks, 2): the geometric median [x, y]
    spread: np.ndarray  # () or (landmarks,): the median distance of the workers' points to it, pixels
    distances: np.ndarray  # (workers,) or (workers, landmarks): each worker's point's distance to it


def point_consensus(points: np.ndarray, *, max_iterations: int = 200, tolerance: float = 1e-6) -> PointConsensus:
    """The geometric median of several workers' points ((workers, 2) or (workers, landmarks, 2),
    [x, y]), landmark by landmark, by Weiszfeld's iteration: it minimizes the sum of distances, so a
    minority of stray clicks cannot drag it far (breakdown point 50 %)."""
    given = np.asarray(points, np.float64)
    single = given.ndim == 2
    stack = given[:, None, :] if single else given
    if stack.ndim != 3 or stack.shape[-1] != 2 or stack.shape[0] == 0:
        raise ValueError("points are (workers, 2) or (workers, landmarks, 2) arrays of [x, y]")
    location = np.median(stack, axis=0)  # the coordinate-wise median: a robust start
    for _ in range(max_iterations):
        offset = stack - location  # (workers, landmarks, 2)
        distance = np.linalg.norm(offset, axis=-1)
        # Vardi and Zhang's step: plain Weiszfeld divides by zero on a worker's point and can stick
        # there; points on the estimate are left out, and it moves off them only if the pull of the
        # others (|R|) outweighs the points sitting there (their count).
        on_point = distance <= 1e-9 * (1.0 + np.abs(location).max())
        weight = np.where(on_point, 0.0, 1.0 / np.where(on_point, 1.0, distance))
        total = weight.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            weiszfeld = (weight[..., None] * stack).sum(axis=0) / total[:, None]
        pull = np.linalg.norm((weight[..., None] * offset).sum(axis=0), axis=-1)
        sitting = on_point.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            stay = np.where(sitting > 0, np.minimum(1.0, sitting / pull), 0.0)
        stay = np.where(total > 0, np.nan_to_num(stay, nan=1.0), 1.0)[:, None]  # all points on it: done
        moved = (1.0 - stay) * np.nan_to_num(weiszfeld) + stay * location
        step = float(np.max(np.linalg.norm(moved - location, axis=-1)))
        location = moved
        if step <= tolerance:
            break
    distance = np.linalg.norm(stack - location, axis=-1)
    spread = np.median(distance, axis=0)
    if single:
        return PointConsensus(location=location[0], spread=spread[0], distances=distance[:, 0])
    return PointConsensus(location=location, spread=spread, distances=distance)


def frame_consensus(frames: np.ndarray) -> tuple[int, float]:
    """The median of several workers' frame numbers, rounded (half to even, as Python's round),
    and its spread as the scaled MAD in frames (an SD estimate that ignores outliers)."""
    given = np.asarray(frames, np.float64).ravel()
    if not given.size:
        raise ValueError("no frames given")
    median = float(np.median(given))
    return int(round(median)), MAD_TO_SD * float(np.median(np.abs(given - median)))
