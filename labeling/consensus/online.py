"""The consensus of one item given what is already known about its workers. Pure module.

A whole-stage run (Dawid-Skene over every answer, labeling/estimation.py) learns each worker's
confusion matrix and the class prior; when a single item then completes, its posterior is the
Dawid-Skene E-step with those fixed: P(true = k | answers) ∝ prior[k] · Π_w confusion_w[k, answer_w].
A worker the run has not seen yet counts with the typical confusion of the item's known workers
(or 70 % right when none is known), so a newcomer is neither trusted blindly nor ignored.
"""
from __future__ import annotations

import numpy as np

FLOOR = 1e-12


def item_posterior(answered: list[int], confusions: list[np.ndarray], class_prior: np.ndarray) -> np.ndarray:
    """Posterior over the classes for one item: `answered[i]` is worker i's class index and
    `confusions[i]` its matrix (true class × answered class, rows summing to 1)."""
    log_posterior = np.log(np.maximum(class_prior, FLOOR))
    for label, confusion in zip(answered, confusions, strict=True):
        log_posterior = log_posterior + np.log(np.maximum(confusion[:, label], FLOOR))
    log_posterior -= log_posterior.max()
    posterior = np.exp(log_posterior)
    return posterior / posterior.sum()


def typical_confusion(confusions: list[np.ndarray], n_classes: int) -> np.ndarray:
    """The mean of the known workers' matrices; with none, 70 % right and the rest spread evenly."""
    if confusions:
        return np.mean(confusions, axis=0)
    if n_classes == 1:
        return np.ones((1, 1))
    return np.full((n_classes, n_classes), 0.3 / (n_classes - 1)) + np.eye(n_classes) * (0.7 - 0.3 / (n_classes - 1))
