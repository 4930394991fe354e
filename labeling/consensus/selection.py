"""`auto`: choose the aggregation method per field and per run from what the answers and the known
answers say, then aggregate with it. Pure numpy (see CATEGORICAL.md, "Choosing a method").

    result = auto(answers)            # a Result of the chosen method, with result.selection
    result.selection["method"], result.selection["basis"], result.selection["reason"], ["scores"]

1. A default from how much each worker's model can learn. A full confusion matrix per worker
   (Dawid-Skene) has k(k − 1) free parameters; with ten answers per parameter for the typical answer's
   worker (the answer-weighted median), it is estimable and DS is the default. Below that — the usual
   crowd, many workers with a few answers each — MACE (Hovy et al. 2013) with the paper's uniform class
   prior (`mace_uniform`): its worker is two numbers and a spam distribution under Bayesian priors, built
   for such crowds, and a uniform prior cannot feed on itself where most items have one or two answers.
2. Known answers (gold, expert-checked items) overrule the default: cross-validated, each fold of known
   items unclamped and predicted by every candidate; a candidate replaces the default only when it got
   significantly more of them right (one-sided paired sign test at 5 % on the items where the two
   differ), so a handful of known items cannot flip the choice by luck.
The held-out likelihood of workers' answers was tried as the evidence and dropped: it rewards modelling
how workers answer (Dawid-Skene's class-specific answer rates) rather than finding the truth, and
chose DS on sparse crowds where DS was the least accurate method (CATEGORICAL.md).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .categorical_base import PROBABILITY_FLOOR, Answers, Result, row_max

CANDIDATES = ("mv", "onecoin", "mace", "mace_uniform", "glad", "ds", "ds_eb")
GOLD_FOLDS = 5
# Ten observations per free parameter, the usual rule for a model to be estimable (events per variable).
ANSWERS_PER_PARAMETER = 10
SIGN_TEST_Z = 1.645  # one-sided, 5 %
# Model choice on a very large stage looks at a random subset of its items: the ranking of methods
# settles long before, and the chosen method then runs on everything.
MAX_ANSWERS_FOR_CHOICE = 200_000
SEED = 0


def auto(answers: Answers, *, candidates: Sequence[str] = CANDIDATES, seed: int = SEED) -> Result:
    """Choose among `candidates` (see the module docstring), aggregate every answer with the choice,
    and return its Result with `selection` = {method, basis, reason, default, scores}."""
    from .categorical import METHODS

    candidates = [method for method in candidates if method in METHODS and method != "auto"]
    selection = choose(answers, candidates, seed=seed)
    return replace(METHODS[selection["method"]](answers), selection=selection)


def choose(answers: Answers, candidates: Sequence[str], *, seed: int = SEED) -> dict:
    """The choice as a JSON-able dict: method, basis ("answers_per_worker" or "known_answers"),
    reason in words, the default and why, and each candidate's cross-validated known-answer scores."""
    typical = typical_answers_per_worker(answers)
    needed = ANSWERS_PER_PARAMETER * answers.n_classes * (answers.n_classes - 1)
    if answers.n_classes <= 1:  # one label in sight: every method returns it
        default, why = "mv", "only one label has been given, so every method agrees"
    else:
        default = "ds" if typical >= needed else "mace_uniform"
        why = (f"the typical answer's worker gave {typical:g} answer{'' if typical == 1 else 's'}; a full "
               f"confusion matrix needs {needed} ({ANSWERS_PER_PARAMETER} per parameter)")
    if default not in candidates:
        default = candidates[0]
    sample = _subsample(answers, np.random.default_rng(seed))
    scores, right = {}, {}
    for method in candidates:
        known = known_answer_scores(sample, method, random=np.random.default_rng(seed))
        right[method] = known.pop("_right")
        scores[method] = known
    chosen, reason, basis = default, f"{default} by default: {why}", "answers_per_worker"
    best_margin = 0.0
    for method in candidates:
        wins, losses = _discordant(right[method], right[default])
        margin = wins - losses
        if margin > best_margin and margin >= SIGN_TEST_Z * np.sqrt(wins + losses):
            best_margin, chosen, basis = margin, method, "known_answers"
            reason = (f"{method} was right on {wins:g} known items where {default} (the default: {why}) was "
                      f"wrong, and wrong on {losses:g} where it was right: significant at 5 %")
    known_items = scores[chosen]["known_items"]
    if chosen == default and known_items:
        reason += f"; no method was significantly more accurate on the {known_items} known items"
    return {"method": chosen, "basis": basis, "reason": reason, "default": default,
            "answers_per_worker": typical, "scores": scores}


def typical_answers_per_worker(answers: Answers) -> float:
    """The answer-weighted median of answers per worker: how many answers the worker behind a typical
    answer gave (a plain median would be dominated by the many workers who answered once)."""
    if not answers.n_answers:
        return 0.0
    per_worker = np.bincount(answers.workers, minlength=answers.n_workers)
    return float(np.median(per_worker[answers.workers]))


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
