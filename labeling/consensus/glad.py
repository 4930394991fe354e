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
    TOLERANCE,
    Answers,
    Result,
    answer_agreement,
    e_step,
    iterate,
    majority_posteriors,
    per_worker_sum,
    vote_counts,
)

ABILITY_PRIOR_MEAN = 1.0
LOG_EASINESS_PRIOR_MEAN = 1.0


def glad(answers: Answers, *, max_iterations: int = 100, tolerance: float = TOLERANCE,
         newton_rounds: int = 3) -> Result:
    """GLAD by EM. worker_reliability is the worker's mean modelled accuracy over the items they answered."""
    k = answers.n_classes
    ability = np.full(answers.n_workers, ABILITY_PRIOR_MEAN)
    log_easiness = np.full(answers.n_items, LOG_EASINESS_PRIOR_MEAN)
    workers, items = answers.workers, answers.items

    def update(posteriors: np.ndarray) -> tuple[np.ndarray, None, float]:
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
            pull = _per_item_sum(answers, (right - accuracy) * scale)
            gradient = pull - (log_easiness - LOG_EASINESS_PRIOR_MEAN)
            # The second derivative in b is pull - sum(p(1-p)x²) - 1 and can be positive. Where it is
            # negative take it (Newton); elsewhere the Fisher term alone, which never is. Fisher alone
            # overshoots where pull < 0 and left ambiguous items in a 2-cycle.
            curvature = _per_item_sum(answers, accuracy * (1 - accuracy) * scale**2) + 1.0 + np.maximum(-pull, 0.0)
            log_easiness = log_easiness + np.clip(gradient / curvature, -1.0, 1.0)

        # Every class but the answered one scores log((1 - p) / (k - 1)), p = sigmoid(x); the answered one
        # log(p), which is x + log(k - 1) more. That difference is the table (one weighted bincount), the
        # common part the evidence's offset: log(1 - sigmoid(x)) = -logaddexp(0, x).
        scale = ability[workers] * np.exp(log_easiness)[items]
        log_spread = np.log(max(k - 1, 1))
        log_scores = vote_counts(answers, weights=scale + log_spread)
        offset = -float(np.logaddexp(0.0, scale).sum()) - log_spread * answers.n_answers
        posteriors, evidence = e_step(log_scores, answers.gold, offset=offset)
        return posteriors, None, evidence

    posteriors, _, iterations, converged = iterate(
        update, majority_posteriors(answers), n_answers=answers.n_answers, max_iterations=max_iterations,
        tolerance=tolerance)
    modelled = expit(ability[workers] * np.exp(log_easiness)[items])
    answered = np.bincount(workers, minlength=answers.n_workers)
    reliability = np.where(answered > 0, per_worker_sum(answers, modelled) / np.maximum(answered, 1),
                           expit(ABILITY_PRIOR_MEAN * np.exp(LOG_EASINESS_PRIOR_MEAN)))
    return Result("glad", posteriors, reliability, np.full(k, 1.0 / k), iterations, converged)


def _per_item_sum(answers: Answers, values: np.ndarray) -> np.ndarray:
    return np.bincount(answers.items, weights=values, minlength=answers.n_items)
