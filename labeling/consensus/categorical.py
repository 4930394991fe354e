"""Weak-label aggregation for categorical answers: majority vote, Dawid-Skene, one-coin Dawid-Skene,
GLAD and MACE over (item, worker, label) answers. Pure numpy/scipy, no Django (see CATEGORICAL.md).

    answers = encode(items, workers, labels, gold={"item-7": "A4C"})
    result = aggregate(answers, method="ds")
    answers.classes[result.labels[i]], result.confidence[i], result.worker_reliability[w]

Gold items are clamped to their label in every iteration, so they anchor the worker estimates.
Every EM method starts from the majority vote and stops when the log evidence (the log-probability
of the answers under the current parameters) changes by less than `tolerance` per answer, or after
`max_iterations`.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy import sparse

from .categorical_base import (
    PROBABILITY_FLOOR,
    TOLERANCE,
    Answers,
    Result,
    answer_agreement,
    e_step,
    encode,
    estimate_class_prior,
    factorize,
    iterate,
    majority_posteriors,
    per_worker_sum,
    vote_counts,
)
from .glad import glad
from .mace import mace
from .selection import auto

__all__ = ["METHODS", "Answers", "MultiLabelResult", "Result", "aggregate", "aggregate_multilabel", "auto", "ds",
           "ds_eb", "ds_posteriors", "encode", "item_consensus", "mace", "glad", "mv", "onecoin"]

# How many answers' worth of the crowd-wide accuracy every worker starts with (majority vote and
# one-coin). Three answers that all agree with the majority then move a worker only part of the way
# towards "perfect".
WORKER_PRIOR_STRENGTH = 4.0
# Dawid-Skene's Laplace smoothing: a newcomer is a coin toss who earns weight with evidence (ds_eb
# shrinks towards the crowd instead).
CONFUSION_PSEUDO_COUNT = 1.0
BINARY = np.array([False, True])


def mv(answers: Answers, *, prior_strength: float = WORKER_PRIOR_STRENGTH) -> Result:
    """Majority vote. Posteriors are the vote shares; reliability is a worker's agreement with them,
    shrunk towards the crowd's average agreement by `prior_strength` pseudo-answers."""
    counts = vote_counts(answers)
    posteriors = majority_posteriors(answers, counts)
    class_prior = estimate_class_prior(counts, pseudo_count=PROBABILITY_FLOOR)
    agreement = answer_agreement(answers, posteriors)
    reliability = _shrunk_rate(per_worker_sum(answers, agreement), _answer_counts(answers), prior_strength)
    return Result("mv", posteriors, reliability, class_prior, iterations=1, converged=True)


def ds(answers: Answers, *, max_iterations: int = 100, tolerance: float = TOLERANCE,
       pseudo_count: float = CONFUSION_PSEUDO_COUNT) -> Result:
    """Dawid-Skene: one full confusion matrix per worker, fitted by EM. Every confusion cell gets
    `pseudo_count` pseudo-answers (a symmetric Dirichlet), so a worker starts out as a coin toss and
    earns weight with evidence."""
    def smooth(counts: np.ndarray) -> np.ndarray:
        return counts + pseudo_count

    return _dawid_skene(answers, "ds", smooth, max_iterations=max_iterations, tolerance=tolerance)


def ds_eb(answers: Answers, *, max_iterations: int = 100, tolerance: float = TOLERANCE) -> Result:
    """Dawid-Skene with an empirical-Bayes (hierarchical) prior: one full confusion matrix per worker,
    each row shrunk towards the crowd's pooled row for that true class, by a strength fitted from the
    data (the Dirichlet-multinomial marginal likelihood of every worker's counts). A worker with three
    answers is mostly the typical worker; one with hundreds is mostly themself. Best of the DS family on
    sparse crowds; on dense crowds with many spammers the pooled row lends them competence (CATEGORICAL.md)."""
    k = answers.n_classes
    strength = np.full(k, float(k))  # warm start of the fitted strengths, one per true class
    pairs = np.unique(answers.workers * k + answers.labels)
    answered = (pairs // k, pairs % k)

    def smooth(counts: np.ndarray) -> np.ndarray:
        nonlocal strength
        # The pooled rows themselves are shrunk (k pseudo-answers, as Laplace's prior) towards the crowd's
        # symmetric typical worker: a class with (almost) no items must not take a pooled row copied
        # from the answers to the other classes, or it would explain every item equally well.
        totals = counts.sum(axis=0)
        typical = _symmetric_confusion(np.trace(totals) / max(totals.sum(), PROBABILITY_FLOOR), k)
        pooled = totals + k * typical
        pooled /= pooled.sum(axis=1, keepdims=True)
        strength = fit_prior_strength(counts, pooled, strength, answered=answered)
        return counts + strength[None, :, None] * pooled[None]

    return _dawid_skene(answers, "ds_eb", smooth, max_iterations=max_iterations, tolerance=tolerance)


def _dawid_skene(answers: Answers, name: str, smooth: Callable[[np.ndarray], np.ndarray], *, max_iterations: int,
                 tolerance: float) -> Result:
    """The Dawid-Skene EM loop; `smooth` turns each round's expected counts (worker × true × answered)
    into the counts the confusion rows are normalized from, i.e. applies the prior."""
    k, n_workers = answers.n_classes, answers.n_workers
    by_item = _item_by_cell_matrix(answers)
    by_cell = by_item.T  # a CSC view: no second copy, and scipy multiplies it as fast

    def update(posteriors: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], float]:
        counts = np.asarray(by_cell @ posteriors).reshape(n_workers, k, k).transpose(0, 2, 1)  # worker, true, answered
        smoothed = smooth(counts) + PROBABILITY_FLOOR
        confusion = smoothed / smoothed.sum(axis=2, keepdims=True)
        class_prior = estimate_class_prior(posteriors)
        posteriors, evidence = e_step(_ds_log_scores(by_item, confusion, class_prior), answers.gold)
        return posteriors, (confusion, class_prior), evidence

    posteriors, (confusion, class_prior), iterations, converged = iterate(
        update, majority_posteriors(answers), n_answers=answers.n_answers, max_iterations=max_iterations,
        tolerance=tolerance)
    reliability = np.einsum("c,wcc->w", class_prior, confusion)
    return Result(name, posteriors, reliability, class_prior, iterations, converged, confusion=confusion)


def _symmetric_confusion(accuracy: float, k: int) -> np.ndarray:
    """A worker right with `accuracy` whatever the class, otherwise answering any other class alike."""
    if k == 1:
        return np.ones((1, 1))
    accuracy = float(np.clip(accuracy, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR))
    wrong = (1 - accuracy) / (k - 1)
    return np.full((k, k), wrong) + np.eye(k) * (accuracy - wrong)


# The fitted strength stays between a tenth of an answer (workers differ entirely: each is their own
# evidence) and a million answers (workers are interchangeable: the pooled confusion for everyone).
STRENGTH_BOUNDS = (0.1, 1e6)
MIN_EXPECTED_COUNT = 1e-3


def fit_prior_strength(counts: np.ndarray, pooled: np.ndarray, start: np.ndarray, *, steps: int = 20,
                       answered: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Per true class c, the Dirichlet strength s_c that maximizes the marginal likelihood of every
    worker's (soft) answer counts for c under a Dirichlet(s_c · pooled[c]) prior on their confusion
    row: Minka's fixed point for a Polya distribution's precision, warm-started. counts: worker ×
    true × answered; pooled: true × answered, rows summing to 1; `answered`: the (worker, label) pairs
    that occur (a label a worker never gave adds nothing to the likelihood, so only these are summed)."""
    from scipy.special import digamma

    if answered is None:
        answered = tuple(np.nonzero(counts.sum(axis=1) > 0))
    pair_workers, pair_labels = answered
    # Only the (worker, label, true class) cells with some expected count: the others add ≈ 0 to both
    # sums (ψ(x + ε) − ψ(x) ≈ ε ψ'(x)), and skipping them makes a many-class fit several times faster.
    pair_counts = counts[pair_workers, :, pair_labels]  # pairs × true
    pair, true_class = np.nonzero(pair_counts > MIN_EXPECTED_COUNT)
    cell_counts, cell_pooled = pair_counts[pair, true_class], pooled[true_class, pair_labels[pair]]
    totals = counts.sum(axis=2)  # worker × true
    seen_worker, seen_class = np.nonzero(totals > MIN_EXPECTED_COUNT)
    seen_totals = totals[seen_worker, seen_class]
    k = len(pooled)
    strength = np.clip(start, *STRENGTH_BOUNDS)
    for _ in range(steps):
        scaled = strength[true_class] * cell_pooled
        numerator = np.bincount(true_class, weights=cell_pooled * (digamma(cell_counts + scaled) - digamma(scaled)),
                                minlength=k)
        denominator = np.bincount(seen_class, weights=digamma(seen_totals + strength[seen_class])
                                  - digamma(strength)[seen_class], minlength=k)
        updated = np.where(denominator > 0, strength * numerator / np.maximum(denominator, 1e-300), strength)
        updated = np.clip(updated, *STRENGTH_BOUNDS)
        if np.all(np.abs(np.log(updated) - np.log(strength)) < 1e-3):
            return updated
        strength = updated
    return strength


def ds_posteriors(answers: Answers, confusion: np.ndarray, class_prior: np.ndarray) -> np.ndarray:
    """Dawid-Skene's E step with given confusion matrices (worker × true × answered) and class prior,
    no item clamped: what the answers alone say of each item, gold items included (to score a
    consensus against the gold it would otherwise be clamped to)."""
    by_item = _item_by_cell_matrix(answers)
    confusion = np.maximum(confusion, PROBABILITY_FLOOR)
    posteriors, _ = e_step(_ds_log_scores(by_item, confusion, np.maximum(class_prior, PROBABILITY_FLOOR)),
                           np.full(answers.n_items, -1))
    return posteriors


def _ds_log_scores(by_item: sparse.csr_matrix, confusion: np.ndarray, class_prior: np.ndarray) -> np.ndarray:
    """n_items × n_classes: log prior + the sum over each item's answers of log P(answer | class)."""
    n_workers, k, _ = confusion.shape
    log_by_cell = np.log(confusion).transpose(0, 2, 1).reshape(n_workers * k, k)  # (worker, answered) × true
    return np.asarray(by_item @ log_by_cell) + np.log(class_prior)


def onecoin(answers: Answers, *, max_iterations: int = 100, tolerance: float = TOLERANCE,
            prior_strength: float = WORKER_PRIOR_STRENGTH) -> Result:
    """One-coin Dawid-Skene: a worker is right with probability s_w whatever the class, and otherwise
    picks one of the other classes uniformly. s_w gets a Beta prior of `prior_strength` pseudo-answers
    at the crowd's average accuracy."""
    k, answered = answers.n_classes, _answer_counts(answers)

    def update(posteriors: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], float]:
        skill = _shrunk_rate(per_worker_sum(answers, answer_agreement(answers, posteriors)), answered,
                             prior_strength)
        skill = np.clip(skill, 1e-6, 1 - 1e-6)
        # Every class but the answered one scores log((1 - s) / (k - 1)), so only the difference goes
        # into the table (one weighted bincount) and the common part into the evidence.
        log_wrong = np.log((1 - skill) / max(k - 1, 1))
        class_prior = estimate_class_prior(posteriors)
        log_scores = vote_counts(answers, weights=(np.log(skill) - log_wrong)[answers.workers]) + np.log(class_prior)
        posteriors, evidence = e_step(log_scores, answers.gold, offset=float(answered @ log_wrong))
        return posteriors, (skill, class_prior), evidence

    posteriors, (skill, class_prior), iterations, converged = iterate(
        update, majority_posteriors(answers), n_answers=answers.n_answers, max_iterations=max_iterations,
        tolerance=tolerance)
    return Result("onecoin", posteriors, skill, class_prior, iterations, converged)


METHODS: dict[str, Callable[..., Result]] = {"mv": mv, "ds": ds, "ds_eb": ds_eb, "onecoin": onecoin, "glad": glad,
                                              "mace": mace, "mace_uniform": partial(mace, uniform_prior=True),
                                              "auto": auto}


def aggregate(answers: Answers, *, method: str = "ds", **options: float) -> Result:
    """Run one of METHODS by name. Raises KeyError naming the known methods for an unknown one."""
    if method not in METHODS:
        raise KeyError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    return METHODS[method](answers, **options)


def item_consensus(answers: Answers, result: Result) -> list[tuple[Hashable, Hashable, float]]:
    """(item id, consensus label, confidence) per item, in the item vocabulary's order."""
    return list(zip(answers.item_ids.tolist(), answers.classes[result.labels].tolist(), result.confidence.tolist(),
                    strict=True))


@dataclass(frozen=True, eq=False)
class MultiLabelResult:
    """One binary aggregation per label. probabilities[i, j]: the probability that item i truly has
    label j; reliability[w, j]: worker w's estimated accuracy at ticking label j or leaving it out."""

    labels: np.ndarray
    item_ids: np.ndarray
    worker_ids: np.ndarray
    probabilities: np.ndarray
    reliability: np.ndarray
    per_label: dict[Hashable, Result]

    def chosen(self, *, threshold: float = 0.5) -> list[list[Hashable]]:
        """Per item, the labels whose probability exceeds `threshold`."""
        rows, columns = np.nonzero(self.probabilities > threshold)
        chosen: list[list[Hashable]] = [[] for _ in self.item_ids]
        names = self.labels.tolist()
        for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
            chosen[row].append(names[column])
        return chosen


def aggregate_multilabel(items: Sequence[Hashable], workers: Sequence[Hashable],
                         label_sets: Sequence[Iterable[Hashable]], *, method: str = "ds",
                         gold: Mapping[Hashable, Iterable[Hashable]] | None = None,
                         **options: float) -> MultiLabelResult:
    """Aggregate answers where a worker ticks a set of labels: one binary problem per label ("ticked"
    or not, by everyone who answered the item), each solved by `method`. Gold maps an item to its
    full label set; a label only gold uses is still a column."""
    gold = {item: list(chosen) for item, chosen in (gold or {}).items()}
    item_codes, item_ids = factorize(list(items) + list(gold))
    worker_codes, worker_ids = factorize(workers)
    n_answers = len(label_sets)
    ticks = [(answer, label) for answer, chosen in enumerate(label_sets) for label in chosen]
    gold_ticks = [label for chosen in gold.values() for label in chosen]
    tick_labels, labels = factorize([label for _, label in ticks] + gold_ticks)
    tick_answers = np.fromiter((answer for answer, _ in ticks), dtype=np.int64, count=len(ticks))
    gold_items = item_codes[n_answers:]
    gold_sizes = np.fromiter((len(chosen) for chosen in gold.values()), dtype=np.int64, count=len(gold))
    gold_rows, gold_columns = np.repeat(gold_items, gold_sizes), tick_labels[len(ticks):]
    n_items, n_workers, n_labels = len(item_ids), len(worker_ids), len(labels)

    probabilities = np.zeros((n_items, n_labels))
    reliability = np.zeros((n_workers, n_labels))
    per_label: dict[Hashable, Result] = {}
    for column, label in enumerate(labels.tolist()):
        ticked = np.zeros(n_answers, dtype=np.int64)
        ticked[tick_answers[tick_labels[:len(ticks)] == column]] = 1
        binary_gold = np.full(n_items, -1, dtype=np.int64)
        binary_gold[gold_items] = 0
        binary_gold[gold_rows[gold_columns == column]] = 1
        binary = Answers(item_codes[:n_answers], worker_codes, ticked, binary_gold, item_ids, worker_ids, BINARY)
        result = aggregate(binary, method=method, **options)
        per_label[label] = result
        probabilities[:, column] = result.posteriors[:, 1]
        reliability[:, column] = result.worker_reliability
    return MultiLabelResult(labels, item_ids, worker_ids, probabilities, reliability, per_label)


def _item_by_cell_matrix(answers: Answers) -> sparse.csr_matrix:
    """Sparse n_items × (n_workers · n_classes) count of answers, for Dawid-Skene's two scatter-adds as
    matrix products. Built straight from row pointers: answers usually arrive grouped by item, and
    then no sort is needed at all."""
    k = answers.n_classes
    items, cells = answers.items, answers.workers * k + answers.labels
    if items.size and not np.all(items[1:] >= items[:-1]):
        order = np.argsort(items, kind="stable")
        items, cells = items[order], cells[order]
    pointers = np.concatenate([[0], np.cumsum(np.bincount(items, minlength=answers.n_items))])
    return sparse.csr_matrix((np.ones(answers.n_answers), cells, pointers),
                             shape=(answers.n_items, answers.n_workers * k))


def _answer_counts(answers: Answers) -> np.ndarray:
    return np.bincount(answers.workers, minlength=answers.n_workers).astype(np.float64)


def _shrunk_rate(hits: np.ndarray, totals: np.ndarray, prior_strength: float) -> np.ndarray:
    """Per-worker hit rate under a Beta prior worth `prior_strength` answers at the crowd-wide rate."""
    overall = (hits.sum() + 1.0) / (totals.sum() + 2.0)
    return (hits + prior_strength * overall) / (totals + prior_strength)
