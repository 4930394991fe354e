"""Shared pieces of the categorical aggregation engine: encoded answers, results, EM helpers.

Pure numpy: no Django, no pandas. Every per-answer computation is a gather (array[index]) or a
scatter-add (np.bincount), so cost is linear in the number of answers with no Python loop over
answers or items. The methods themselves live in categorical.py, glad.py and mace.py.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import numpy as np

State = TypeVar("State")

# A class seen by nobody still needs a non-zero probability, or log() turns an item's posterior into NaN.
PROBABILITY_FLOOR = 1e-12
# EM stops when the log evidence per answer moves by less than this (crowd-kit stops at 1e-5 of its ELBO).
TOLERANCE = 1e-6


@dataclass(frozen=True, eq=False)
class Answers:
    """Answers as parallel index arrays, with the vocabularies that map indices back to ids.

    `gold[i]` is the class index of item i's known true label, or -1 when there is none. A worker who
    answers an item twice counts twice.
    """

    items: np.ndarray
    workers: np.ndarray
    labels: np.ndarray
    gold: np.ndarray
    item_ids: np.ndarray
    worker_ids: np.ndarray
    classes: np.ndarray

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_workers(self) -> int:
        return len(self.worker_ids)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_answers(self) -> int:
        return len(self.items)

    @cached_property
    def item_label_cells(self) -> np.ndarray:
        """Per answer, its cell in a flattened n_items × n_classes table (every method scatters into it)."""
        return self.items * self.n_classes + self.labels

    def without_gold(self) -> Answers:
        """The same answers with no item clamped (to score a method against the gold it did not see)."""
        return Answers(self.items, self.workers, self.labels, np.full(self.n_items, -1), self.item_ids,
                       self.worker_ids, self.classes)

    def with_gold(self, gold: np.ndarray) -> Answers:
        """The same answers with another gold array (class indices, -1 for none)."""
        return Answers(self.items, self.workers, self.labels, np.asarray(gold, dtype=np.int64), self.item_ids,
                       self.worker_ids, self.classes)


@dataclass(frozen=True, eq=False)
class Result:
    """What an aggregation estimates.

    posteriors: n_items × n_classes, rows sum to 1 (gold items are one-hot).
    worker_reliability: per worker, the estimated probability that their answer is right, in [0, 1].
    class_prior: the estimated share of each class among the items.
    confusion: n_workers × true class × answered class (Dawid-Skene and MACE).
    selection: how `auto` chose this method, and the evidence (selection.py); None for a named method.
    """

    method: str
    posteriors: np.ndarray
    worker_reliability: np.ndarray
    class_prior: np.ndarray
    iterations: int
    converged: bool
    confusion: np.ndarray | None = None
    selection: dict | None = None

    def worker_confusion(self) -> np.ndarray:
        """n_workers × true × answered: P(answer | true class) per worker. Methods with no full matrix
        (majority vote, one-coin, GLAD) are right with their reliability and otherwise err uniformly."""
        if self.confusion is not None:
            return self.confusion
        k = len(self.class_prior)
        if k == 1:
            return np.ones((len(self.worker_reliability), 1, 1))
        right = self.worker_reliability[:, None, None]
        return right * np.eye(k)[None] + (1 - right) * (1 - np.eye(k)[None]) / (k - 1)

    @property
    def labels(self) -> np.ndarray:
        """Hard label per item: the most probable class. On an exact tie, the class more common overall
        (class_prior) wins, then the lower class index; the confidence still shows the tie."""
        posteriors = self.posteriors
        tied = posteriors >= row_max(posteriors)[:, None] - 1e-12
        return np.argmax(np.where(tied, self.class_prior[None, :], -np.inf), axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """The posterior probability of the hard label."""
        return row_max(self.posteriors)


def encode(items: Sequence[Hashable], workers: Sequence[Hashable], labels: Sequence[Hashable],
           gold: Mapping[Hashable, Hashable] | None = None) -> Answers:
    """Map arbitrary item, worker and label ids to indices. Items and labels that occur only in `gold`
    are kept (a gold-only label becomes a class). Vocabularies are sorted where the ids are orderable,
    so class order matches crowd-kit's. Raises ValueError on arrays of different lengths."""
    if not len(items) == len(workers) == len(labels):
        raise ValueError(f"items, workers and labels differ in length: {len(items)}, {len(workers)}, {len(labels)}")
    gold = gold or {}
    gold_items, gold_labels = list(gold.keys()), list(gold.values())
    item_codes, item_ids = factorize(_concatenate(items, gold_items))
    label_codes, classes = factorize(_concatenate(labels, gold_labels))
    worker_codes, worker_ids = factorize(workers)
    n_answers = len(items)
    gold_array = np.full(len(item_ids), -1, dtype=np.int64)
    gold_array[item_codes[n_answers:]] = label_codes[n_answers:]
    return Answers(item_codes[:n_answers], worker_codes, label_codes[:n_answers], gold_array, item_ids,
                   worker_ids, classes)


def factorize(values: Sequence[Hashable] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, vocabulary) with vocabulary[codes] == values, the vocabulary a 1-D array: sorted, ids of
    mixed types grouped by type name, and in first-seen order only when nothing else works. Raises
    ValueError for an array that is not 1-D."""
    if not isinstance(values, np.ndarray):
        kinds = set(map(type, values))
        if len(kinds) != 1 or not issubclass(kinds.pop(), (int, float, np.integer, np.floating)):
            # Strings and mixed ids: hashing beats numpy's string sort (and np.asarray would turn
            # [1, "a"] into strings).
            return _factorize_objects(values)
        values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"ids must be one-dimensional, got shape {values.shape}")
    if values.dtype.kind == "O":
        return _factorize_objects(values.tolist())
    if values.dtype.kind in "iu" and values.size and values.min() >= 0 and values.max() < 4 * values.size + 1024:
        # Dense non-negative ints (the usual database ids): a presence table beats sorting.
        present = np.bincount(values) > 0
        if present.all():  # already 0..n-1: the ids are their own codes
            return values.astype(np.int64, copy=False), np.arange(len(present))
        lookup = np.cumsum(present) - 1
        return lookup[values], np.flatnonzero(present)
    vocabulary, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64).ravel(), vocabulary


def _factorize_objects(values: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
    unique = list(dict.fromkeys(values))
    try:
        ordered = sorted(unique)
    except TypeError:
        try:  # mixed types: group by type name, then by value
            ordered = sorted(unique, key=lambda value: (type(value).__name__, value))
        except TypeError:  # still not comparable: first seen first
            ordered = unique
    index = {value: code for code, value in enumerate(ordered)}
    vocabulary = np.empty(len(ordered), dtype=object)  # filled, not built: a tuple id must stay one element
    vocabulary[:] = ordered
    return np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values)), vocabulary


def _concatenate(first: Sequence[Hashable], second: list) -> Sequence[Hashable] | np.ndarray:
    if not second:
        return first
    if isinstance(first, np.ndarray):
        return np.concatenate([first, np.asarray(second, dtype=first.dtype if first.dtype.kind != "U" else None)])
    return list(first) + second


def row_max(table: np.ndarray) -> np.ndarray:
    """Maximum of each row of an n × k table. numpy's axis-1 reductions over a few columns are ~15x
    slower than k elementwise passes, and every EM iteration takes two."""
    result = table[:, 0].copy()
    for column in range(1, table.shape[1]):
        np.maximum(result, table[:, column], out=result)
    return result


def row_sum(table: np.ndarray) -> np.ndarray:
    """Sum of each row of an n × k table (as a matrix product, for the same reason as row_max)."""
    return table @ np.ones(table.shape[1])


def vote_counts(answers: Answers, weights: np.ndarray | None = None) -> np.ndarray:
    """n_items × n_classes: how many answers (or how much weight) each class got on each item."""
    k = answers.n_classes
    flat = np.bincount(answers.item_label_cells, weights=weights, minlength=answers.n_items * k)
    return flat.reshape(answers.n_items, k).astype(np.float64, copy=False)


def clamp_gold(posteriors: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Fix gold items' posteriors to their gold label (in place; returns the array)."""
    known = np.flatnonzero(gold >= 0)
    if known.size:
        posteriors[known] = 0.0
        posteriors[known, gold[known]] = 1.0
    return posteriors


def normalize_rows(scores: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 1; an all-zero row (an item nobody answered) becomes `fallback`."""
    totals = row_sum(scores)[:, None]
    empty = totals[:, 0] <= 0
    result = scores / np.where(totals > 0, totals, 1.0)
    result[empty] = fallback
    return result


def e_step(log_scores: np.ndarray, gold: np.ndarray, *, offset: float = 0.0) -> tuple[np.ndarray, float]:
    """Posteriors from per-class log scores (gold rows clamped) and the log evidence: the log-probability
    of all answers, and of the gold labels, under the current parameters. `offset` is the class-independent
    part of the log-likelihood that the caller left out of `log_scores`."""
    # Shift each row by its maximum so long products of small probabilities do not underflow.
    top = row_max(log_scores)[:, None]
    scaled = np.exp(log_scores - top)
    totals = row_sum(scaled)[:, None]
    posteriors = scaled / totals
    evidence = top[:, 0] + np.log(totals[:, 0])
    known = np.flatnonzero(gold >= 0)
    if known.size:
        evidence[known] = log_scores[known, gold[known]]
        posteriors[known] = 0.0
        posteriors[known, gold[known]] = 1.0
    return posteriors, float(evidence.sum()) + offset


def estimate_class_prior(posteriors: np.ndarray, *, pseudo_count: float = 1.0) -> np.ndarray:
    """Share of each class among the items, with a Dirichlet(pseudo_count) so no class gets exactly 0."""
    totals = np.ones(len(posteriors)) @ posteriors + pseudo_count
    return totals / totals.sum()


def majority_posteriors(answers: Answers, counts: np.ndarray | None = None) -> np.ndarray:
    """Vote shares per item (from `counts` when the caller has them), gold items clamped; the
    starting point of every EM method. An item nobody answered gets the answers' overall shares."""
    counts = vote_counts(answers) if counts is None else counts
    answer_shares = estimate_class_prior(counts, pseudo_count=PROBABILITY_FLOOR)
    return clamp_gold(normalize_rows(counts, answer_shares), answers.gold)


def answer_agreement(answers: Answers, posteriors: np.ndarray) -> np.ndarray:
    """Per answer, the posterior probability that the answered label is the true one."""
    return np.ravel(posteriors)[answers.item_label_cells]  # a flat gather is twice as fast as a 2-D one


def per_worker_sum(answers: Answers, values: np.ndarray) -> np.ndarray:
    return np.bincount(answers.workers, weights=values, minlength=answers.n_workers)


def iterate(update: Callable[[np.ndarray], tuple[np.ndarray, State, float]], initial: np.ndarray, *,
            n_answers: int, max_iterations: int, tolerance: float) -> tuple[np.ndarray, State, int, bool]:
    """Run `update` (one M step then one E step: posteriors in; new posteriors, the fitted parameters and
    the log evidence out) until the log evidence per answer changes by less than `tolerance`, or
    `max_iterations` times (at least once). Returns (posteriors, parameters, iterations, converged)."""
    posteriors, previous = initial, -np.inf
    for iteration in range(1, max(1, max_iterations) + 1):
        posteriors, state, evidence = update(posteriors)
        if abs(evidence - previous) < tolerance * max(n_answers, 1):
            return posteriors, state, iteration, True
        previous = evidence
    return posteriors, state, max(1, max_iterations), False
