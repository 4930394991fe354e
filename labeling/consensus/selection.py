"""`auto`: choose the aggregation method per field and per run from what the answers and the known
answers say, then aggregate with it. Pure numpy (see CATEGORICAL.md, "Choosing a method").

    result = auto(answers)            # a Result of the chosen method, with result.selection
    result.selection["method"], result.selection["basis"], result.selection["scores"]

Two kinds of evidence, both out of sample:
- Known answers (gold, expert-checked items), cross-validated: each fold of known items is unclamped
  and predicted from the crowd's answers (and the other known items), so a method is judged on labels
  it did not see.
- Held-out answers, cross-validated: each fold of answers is hidden, the method is fitted on the rest
  and scored on how probable it found each hidden answer (P(answer) = Σ_c P(item is c) · P(worker
  says it | c)). A method whose worker model overfits a sparse crowd predicts new answers badly.

The choice: the method whose held-out answers are most probable, unless the known answers show,
by a one-sided paired sign test on the items where two methods disagree, that another method gets
significantly more of them right; then that one. With no known answers the likelihood decides alone.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .categorical_base import PROBABILITY_FLOOR, Answers, Result, row_max

CANDIDATES = ("mv", "ds", "onecoin", "glad", "mace")
ANSWER_FOLDS = 5
GOLD_FOLDS = 5
# One-sided sign test at 5 %: a method replaces the likelihood's choice only when it wins this many
# standard deviations more of the disputed known items than it loses.
SIGN_TEST_Z = 1.645
# Model choice on a very large stage looks at a random subset of its items: the ranking of methods
# settles long before, and the chosen method then runs on everything.
MAX_ANSWERS_FOR_CHOICE = 200_000
SEED = 0


def auto(answers: Answers, *, candidates: Sequence[str] = CANDIDATES, seed: int = SEED) -> Result:
    """Choose among `candidates` (see the module docstring), aggregate every answer with the choice,
    and return its Result with `selection` = {method, basis, reason, scores}."""
    from .categorical import METHODS

    candidates = [method for method in candidates if method in METHODS]
    scores, basis, chosen, reason = choose(answers, candidates, seed=seed)
    result = METHODS[chosen](answers)
    return replace(result, selection={"method": chosen, "basis": basis, "reason": reason, "scores": scores})


def choose(answers: Answers, candidates: Sequence[str], *, seed: int = SEED) -> tuple[dict, str, str, str]:
    """(scores per method, basis, chosen method, reason in words)."""
    random = np.random.default_rng(seed)
    sample = _subsample(answers, random)
    scores = {method: {"held_out_log_likelihood": held_out_log_likelihood(sample, method, random=random)}
              for method in candidates}
    for method in candidates:
        scores[method].update(known_answer_scores(sample, method, random=random))
    by_likelihood = max(candidates, key=lambda method: scores[method]["held_out_log_likelihood"])
    known = scores[by_likelihood]["known_items"]
    if not known:
        return scores, "held_out_likelihood", by_likelihood, (
            f"no known answers yet: {by_likelihood} predicted held-out answers best")
    chosen, reason = by_likelihood, (f"{by_likelihood} predicted held-out answers best and no method was "
                                     f"significantly more accurate on the {known} known items")
    for method in candidates:
        wins, losses = _discordant(scores[method]["_right"], scores[chosen]["_right"])
        if wins > losses and (wins - losses) >= SIGN_TEST_Z * np.sqrt(wins + losses):
            chosen, reason = method, (f"{method} was right on {wins} known items where {by_likelihood} was wrong, "
                                      f"and wrong on {losses} where it was right (sign test, 5 %)")
    for method in candidates:
        scores[method].pop("_right")
    return scores, "known_answers" if chosen != by_likelihood else "held_out_likelihood", chosen, reason


def held_out_log_likelihood(answers: Answers, method: str, *, random: np.random.Generator,
                            folds: int = ANSWER_FOLDS) -> float:
    """Mean log-probability per answer of answers the method did not see (k-fold over answers)."""
    from .categorical import METHODS

    if answers.n_answers < folds:
        return 0.0
    fold = random.permutation(np.arange(answers.n_answers) % folds)
    total = 0.0
    for index in range(folds):
        hidden = fold == index
        training = _subset(answers, ~hidden)
        result = METHODS[method](training)
        confusion = result.worker_confusion()
        # A worker seen only in the hidden fold is predicted as the typical worker of this fit.
        typical = confusion.mean(axis=0) if len(confusion) else np.full((answers.n_classes,) * 2, 1 / answers.n_classes)
        worker_seen = np.zeros(answers.n_workers, dtype=bool)
        worker_seen[training.workers] = True
        items, workers, labels = answers.items[hidden], answers.workers[hidden], answers.labels[hidden]
        answered = np.zeros(answers.n_items, dtype=bool)
        answered[training.items] = True
        answered |= answers.gold >= 0
        posteriors = np.where(answered[items, None], result.posteriors[items], result.class_prior[None, :])
        per_class = np.where(worker_seen[workers, None], confusion[workers, :, labels], typical[:, labels].T)
        total += float(np.log(np.maximum((posteriors * per_class).sum(axis=1), PROBABILITY_FLOOR)).sum())
    return total / answers.n_answers


def known_answer_scores(answers: Answers, method: str, *, random: np.random.Generator,
                        folds: int = GOLD_FOLDS) -> dict:
    """Cross-validated over the known items: each fold unclamped and predicted. Returns the number of
    known items, their tie-aware accuracy, the mean log-probability of the known label, and per known
    item whether the method got it right (for the paired test)."""
    from .categorical import METHODS

    known = np.flatnonzero(answers.gold >= 0)
    answered = np.zeros(answers.n_items, dtype=bool)
    answered[answers.items] = True
    known = known[answered[known]]  # a known item nobody answered tells nothing about a method
    if known.size == 0:
        return {"known_items": 0, "known_accuracy": None, "known_log_likelihood": None, "_right": np.zeros(0)}
    fold = random.permutation(np.arange(known.size) % min(folds, known.size))
    right = np.zeros(known.size)
    log_probability = np.zeros(known.size)
    for index in range(fold.max() + 1):
        hidden = known[fold == index]
        gold = answers.gold.copy()
        gold[hidden] = -1
        posteriors = METHODS[method](answers.with_gold(gold)).posteriors[hidden]
        truth = answers.gold[hidden]
        top = posteriors >= row_max(posteriors)[:, None] - 1e-12
        right[fold == index] = top[np.arange(hidden.size), truth] / top.sum(axis=1)
        log_probability[fold == index] = np.log(np.maximum(posteriors[np.arange(hidden.size), truth],
                                                           PROBABILITY_FLOOR))
    return {"known_items": int(known.size), "known_accuracy": round(float(right.mean()), 4),
            "known_log_likelihood": round(float(log_probability.mean()), 4), "_right": right}


def _discordant(first: np.ndarray, second: np.ndarray) -> tuple[float, float]:
    """Known items where `first` was right and `second` wrong, and the reverse (ties count by share)."""
    difference = first - second
    return float(np.clip(difference, 0, None).sum()), float(np.clip(-difference, 0, None).sum())


def _subset(answers: Answers, keep: np.ndarray) -> Answers:
    """The kept answers, with every vocabulary unchanged (so indices still line up)."""
    return Answers(answers.items[keep], answers.workers[keep], answers.labels[keep], answers.gold,
                   answers.item_ids, answers.worker_ids, answers.classes)


def _subsample(answers: Answers, random: np.random.Generator) -> Answers:
    """Answers of a random subset of items, known items first, when the stage is very large."""
    if answers.n_answers <= MAX_ANSWERS_FOR_CHOICE:
        return answers
    share = MAX_ANSWERS_FOR_CHOICE / answers.n_answers
    chosen = (random.random(answers.n_items) < share) | (answers.gold >= 0)
    return _subset(answers, chosen[answers.items])
