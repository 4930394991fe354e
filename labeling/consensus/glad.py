"""GLAD (Whitehill et al., NIPS 2009): worker ability times item easiness, vectorized. Pure numpy.

A worker w answers item i correctly with probability sigmoid(alpha_w * beta_i), beta_i = exp(b_i) > 0,
and otherwise picks one of the other classes uniformly. alpha and b get Gaussian priors N(1, 1), as in
the paper and crowd-kit, and the class prior stays uniform: with symmetric errors an estimated prior
feeds on itself (on the shared sets it cost up to 13 points of accuracy).

The M step is block Newton: given the items, the expected log-likelihood separates into one concave
1-D problem per worker, and given the workers into one per item, so each round is a handful of
bincounts instead of a general-purpose optimizer over all parameters.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from .categorical_base import (
    Answers,
    Result,
    answer_agreement,
    clamp_gold,
    iterate,
    majority_posteriors,
    per_worker_sum,
    softmax_rows,
    vote_counts,
)

ABILITY_PRIOR_MEAN = 1.0
LOG_EASINESS_PRIOR_MEAN = 1.0


def glad(answers: Answers, *, max_iterations: int = 100, tolerance: float = 1e-4, newton_rounds: int = 3) -> Result:
    """GLAD by EM. worker_reliability is the worker's mean modelled accuracy over the items they answered."""
    k = answers.n_classes
    ability = np.full(answers.n_workers, ABILITY_PRIOR_MEAN)
    log_easiness = np.full(answers.n_items, LOG_EASINESS_PRIOR_MEAN)
    workers, items = answers.workers, answers.items

    def update(posteriors: np.ndarray) -> tuple[np.ndarray, None]:
        nonlocal ability, log_easiness
        right = answer_agreement(answers, posteriors)  # expected "answer is correct" per answer
        for _ in range(newton_rounds):
            easiness = np.exp(log_easiness)[items]
            accuracy = expit(ability[workers] * easiness)
            gradient = per_worker_sum(answers, (right - accuracy) * easiness) - (ability - ABILITY_PRIOR_MEAN)
            curvature = per_worker_sum(answers, accuracy * (1 - accuracy) * easiness**2) + 1.0
            # Newton (concave in ability), its step capped: from far off it overshoots on steep sigmoids.
            ability = ability + np.clip(gradient / curvature, -1.0, 1.0)

            scale = ability[workers] * easiness
            accuracy = expit(scale)
            gradient = _per_item_sum(answers, (right - accuracy) * scale) - (log_easiness - LOG_EASINESS_PRIOR_MEAN)
            # Fisher scoring: the true second derivative in b can be positive, this stand-in never is.
            curvature = _per_item_sum(answers, accuracy * (1 - accuracy) * scale**2) + 1.0
            log_easiness = log_easiness + np.clip(gradient / curvature, -1.0, 1.0)

        # log(p / ((1 - p) / (k - 1))) for p = sigmoid(x) is x + log(k - 1): the E step is one weighted bincount.
        weight = ability[workers] * np.exp(log_easiness)[items] + np.log(max(k - 1, 1))
        log_scores = vote_counts(answers, weights=weight)
        return clamp_gold(softmax_rows(log_scores), answers.gold), None

    posteriors, _, iterations, converged = iterate(
        update, majority_posteriors(answers), max_iterations=max_iterations, tolerance=tolerance)
    modelled = expit(ability[workers] * np.exp(log_easiness)[items])
    answered = np.bincount(workers, minlength=answers.n_workers)
    reliability = np.where(answered > 0, per_worker_sum(answers, modelled) / np.maximum(answered, 1),
                           expit(ABILITY_PRIOR_MEAN * np.exp(LOG_EASINESS_PRIOR_MEAN)))
    return Result("glad", posteriors, reliability, np.full(k, 1.0 / k), iterations, converged)


def _per_item_sum(answers: Answers, values: np.ndarray) -> np.ndarray:
    return np.bincount(answers.items, weights=values, minlength=answers.n_items)
