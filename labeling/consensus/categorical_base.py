"""Shared pieces of the categorical aggregation engine: encoded answers, results, EM helpers.

Pure numpy: no Django, no pandas. Every per-answer computation is a gather (array[index]) or a
scatter-add (np.bincount), so cost is linear in the number of answers with no Python loop over
answers or items. The methods themselves live in categorical.py, glad.py and mace.py.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

State = TypeVar("State")

# A class seen by nobody still needs a non-zero probability, or log() turns an item's posterior into NaN.
PROBABILITY_FLOOR = 1e-12


@dataclass(frozen=True, eq=False)
class Answers:
    """Answers as parallel index arrays, with the vocabularies that map indices back to ids.

    `gold[i]` is the class index of item i's known true label, or -1 when there is none.
    """

    items: np.ndarray
    workers: np.ndarray
    labels: np.ndarray
    gold: np.ndarray
    item_ids: list
    worker_ids: list
    classes: list

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
    confusion: n_workers × true class × answered class (Dawid-Skene only).
    """

    method: str
    posteriors: np.ndarray
    worker_reliability: np.ndarray
    class_prior: np.ndarray
    iterations: int
    converged: bool
    confusion: np.ndarray | None = None

    @property
    def labels(self) -> np.ndarray:
        """Hard label per item: the most probable class. On an exact tie, the class more common overall
        (class_prior) wins, then the lower class index; the confidence still shows the tie."""
        posteriors = self.posteriors
        tied = posteriors >= posteriors.max(axis=1, keepdims=True) - 1e-12
        return np.argmax(np.where(tied, self.class_prior[None, :], -np.inf), axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """The posterior probability of the hard label."""
        return self.posteriors.max(axis=1)


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


def factorize(values: Sequence[Hashable] | np.ndarray) -> tuple[np.ndarray, list]:
    """(codes, vocabulary) with vocabulary[codes] == values; the vocabulary sorted when orderable."""
    if isinstance(values, np.ndarray):
        array = values
    elif len({type(value) for value in values}) == 1:
        array = np.asarray(values)
    else:  # np.asarray would turn [1, "a"] into strings
        array = np.asarray(values, dtype=object)
    if array.dtype.kind in "iu" and array.size and array.min() >= 0 and array.max() < 4 * array.size + 1024:
        # Dense non-negative ints (the usual database ids): a presence table beats sorting.
        present = np.bincount(array) > 0
        lookup = np.cumsum(present) - 1
        return lookup[array].astype(np.int64), np.flatnonzero(present).tolist()
    if array.ndim == 1 and array.dtype.kind != "O":
        vocabulary, codes = np.unique(array, return_inverse=True)
        return codes.astype(np.int64).ravel(), vocabulary.tolist()
    try:
        vocabulary = sorted(set(values))
    except TypeError:  # mixed types: keep first-seen order
        vocabulary = list(dict.fromkeys(values))
    index = {value: code for code, value in enumerate(vocabulary)}
    return np.fromiter((index[value] for value in values), dtype=np.int64, count=len(values)), vocabulary


def _concatenate(first: Sequence[Hashable], second: list) -> Sequence[Hashable] | np.ndarray:
    if not second:
        return first
    if isinstance(first, np.ndarray):
        return np.concatenate([first, np.asarray(second, dtype=first.dtype if first.dtype.kind != "U" else None)])
    return list(first) + second


def vote_counts(answers: Answers, weights: np.ndarray | None = None) -> np.ndarray:
    """n_items × n_classes: how many answers (or how much weight) each class got on each item."""
    k = answers.n_classes
    flat = np.bincount(answers.items * k + answers.labels, weights=weights, minlength=answers.n_items * k)
    return flat.reshape(answers.n_items, k).astype(np.float64)


def clamp_gold(posteriors: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Fix gold items' posteriors to their gold label (in place; returns the array)."""
    known = np.flatnonzero(gold >= 0)
    if known.size:
        posteriors[known] = 0.0
        posteriors[known, gold[known]] = 1.0
    return posteriors


def normalize_rows(scores: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 1; an all-zero row (an item nobody answered) becomes `fallback`."""
    totals = scores.sum(axis=1, keepdims=True)
    empty = totals[:, 0] <= 0
    result = scores / np.where(totals > 0, totals, 1.0)
    result[empty] = fallback
    return result


def softmax_rows(log_scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so long products of small numbers do not underflow."""
    shifted = np.exp(log_scores - log_scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def estimate_class_prior(posteriors: np.ndarray, *, pseudo_count: float = 1.0) -> np.ndarray:
    """Share of each class among the items, with a Dirichlet(pseudo_count) so no class gets exactly 0."""
    totals = posteriors.sum(axis=0) + pseudo_count
    return totals / totals.sum()


def majority_posteriors(answers: Answers) -> np.ndarray:
    """Vote shares per item, gold items clamped; the starting point of every EM method."""
    counts = vote_counts(answers)
    answer_shares = estimate_class_prior(counts, pseudo_count=PROBABILITY_FLOOR)
    return clamp_gold(normalize_rows(counts, answer_shares), answers.gold)


def answer_agreement(answers: Answers, posteriors: np.ndarray) -> np.ndarray:
    """Per answer, the posterior probability that the answered label is the true one."""
    return posteriors[answers.items, answers.labels]


def per_worker_sum(answers: Answers, values: np.ndarray) -> np.ndarray:
    return np.bincount(answers.workers, weights=values, minlength=answers.n_workers)


def iterate(update: Callable[[np.ndarray], tuple[np.ndarray, State]], initial: np.ndarray, *, max_iterations: int,
            tolerance: float) -> tuple[np.ndarray, State, int, bool]:
    """Run `update` (one M step then one E step: posteriors in, new posteriors and the fitted parameters
    out) until no posterior moves by more than `tolerance`, at least once. Returns (posteriors,
    parameters, iterations, converged)."""
    posteriors = initial
    for iteration in range(1, max(1, max_iterations) + 1):
        updated, state = update(posteriors)
        change = float(np.abs(updated - posteriors).max()) if updated.size else 0.0
        posteriors = updated
        if change < tolerance:
            return posteriors, state, iteration, True
    return posteriors, state, max(1, max_iterations), False
