"""MACE (Hovy et al., NAACL 2013): each worker either knows the answer or spams, vectorized. Pure numpy.

Worker w knows with probability theta_w and then gives the true label; otherwise they answer from
their own spam distribution xi_w. Fitted by variational Bayes with the paper's priors (as in
crowd-kit): Beta(0.5, 0.5) on theta_w and a symmetric Dirichlet(10) on xi_w. Unlike the paper the
class prior is estimated by default: kept uniform, MACE fell from 0.93 to 0.83 on zheng_d_jn_product,
where most pairs are non-matches. `uniform_prior=True` (METHODS["mace_uniform"]) keeps the paper's
uniform prior: on sparse crowds, where most items have one or two answers, an estimated prior feeds
on itself, and there the uniform one is 1 to 7 points better (CATEGORICAL.md).
"""
from __future__ import annotations

import numpy as np
from scipy.special import digamma

from .categorical_base import (
    PROBABILITY_FLOOR,
    TOLERANCE,
    Answers,
    Result,
    answer_agreement,
    e_step,
    estimate_class_prior,
    iterate,
    majority_posteriors,
    per_worker_sum,
    vote_counts,
)

KNOWING_PRIOR = 0.5
SPAMMING_PRIOR = 0.5
STRATEGY_PRIOR = 10.0


def mace(answers: Answers, *, max_iterations: int = 100, tolerance: float = TOLERANCE,
         uniform_prior: bool = False) -> Result:
    """MACE by variational EM, started from the majority vote. worker_reliability is the probability
    that the worker's answer is right: knowing, or spamming onto the true class by chance."""
    k, n_workers = answers.n_classes, answers.n_workers
    workers, labels = answers.workers, answers.labels
    knowing = np.full(n_workers, 0.5)
    spamming = np.full(n_workers, 0.5)
    strategy = np.full((n_workers, k), 1.0 / max(k, 1))

    def update(posteriors: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        nonlocal knowing, spamming, strategy
        # E: expected "knew it" per answer = P(true label = answer) * P(knowing | answer is the true label).
        spam_here = spamming[workers] * strategy[workers, labels]
        knew = answer_agreement(answers, posteriors) * knowing[workers] / (spam_here + knowing[workers])
        knew_counts = per_worker_sum(answers, knew)
        spam_counts = np.bincount(workers * k + labels, weights=1.0 - knew, minlength=n_workers * k).reshape(-1, k)

        # M (variational): exp(digamma(.)) of expected counts plus prior, per Beta/Dirichlet.
        total = np.exp(digamma(knew_counts + spam_counts.sum(axis=1) + KNOWING_PRIOR + SPAMMING_PRIOR))
        knowing = np.exp(digamma(knew_counts + KNOWING_PRIOR)) / total
        spamming = np.exp(digamma(spam_counts.sum(axis=1) + SPAMMING_PRIOR)) / total
        strategy = np.exp(digamma(spam_counts + STRATEGY_PRIOR)) / np.exp(
            digamma(spam_counts.sum(axis=1, keepdims=True) + k * STRATEGY_PRIOR))

        # Only the answered class gains the "knowing" term: the table holds that gain (one weighted
        # bincount), the evidence's offset the spam term every class shares.
        log_spam = np.log(spamming[workers] * strategy[workers, labels] + PROBABILITY_FLOOR)
        weight = np.log(np.exp(log_spam) + knowing[workers]) - log_spam
        # The paper keeps the class prior uniform; estimating it helps on dense, imbalanced crowds, but on
        # sparse ones (items with one or two answers are decided mostly by the prior, which is then
        # re-estimated from them) it feeds on itself: `auto` uses the uniform prior there.
        class_prior = np.full(k, 1.0 / k) if uniform_prior else estimate_class_prior(posteriors)
        log_scores = vote_counts(answers, weights=weight) + np.log(class_prior)
        posteriors, evidence = e_step(log_scores, answers.gold, offset=float(log_spam.sum()))
        return posteriors, class_prior, evidence

    posteriors, class_prior, iterations, converged = iterate(
        update, majority_posteriors(answers), n_answers=answers.n_answers, max_iterations=max_iterations,
        tolerance=tolerance)
    scale = knowing + spamming
    lucky = (strategy / strategy.sum(axis=1, keepdims=True)) @ class_prior
    reliability = (knowing + spamming * lucky) / scale
    # P(answer | true class): the true class when knowing, else the worker's spam strategy.
    knows = (knowing / scale)[:, None, None]
    confusion = knows * np.eye(k)[None] + (1 - knows) * (strategy / strategy.sum(axis=1, keepdims=True))[:, None, :]
    return Result("mace_uniform" if uniform_prior else "mace", posteriors, reliability, class_prior, iterations,
                  converged, confusion=confusion)
