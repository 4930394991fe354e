"""Calibrated consensus confidence: the probability that an item's consensus label is right, learned
from the items experts have checked. Pure numpy/scipy, no Django (see CALIBRATION.md).

Every aggregation model assumes that workers err independently given the true label. They do not:
a hard item fools several workers at once, so posteriors saturate (Dawid-Skene says 0.9999 of items
that are wrong one time in ten) and rank the doubtful items poorly. Each item an expert checks says
whether the consensus was right. A logistic regression on features of the consensus (each model's
log-odds for the consensus label, the number of answers) fitted to those outcomes turns the
models' scores into a probability of being right, and that probability ranks what goes to experts.

    router = ExpertRouter(answers)                  # answers without the expert labels
    batch = router.next_batch(100)                  # item indices, least likely right first
    router.record(batch, expert_labels)             # class indices the experts gave
    router.result.labels, router.probability_right()
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from .categorical import METHODS
from .categorical_base import Answers, Result, vote_counts

# The models whose log-odds describe a consensus. Each errs differently (DS on rarely seen workers,
# GLAD on item difficulty, MACE on spammers), so together they rank doubt better than any one.
FEATURE_METHODS = ("ds", "mv", "onecoin", "glad", "mace")
# No model before experts have both confirmed and corrected this many consensus labels: with fewer
# the fit follows noise, and the label model's own posterior ranks better.
MIN_OUTCOMES = 10
# Ridge penalty on the standardized coefficients (scikit-learn's C = 1).
L2_PENALTY = 1.0
# Posteriors of 0 or 1 become log-odds of about ±21 instead of infinities.
LOG_ODDS_FLOOR = 1e-9


@dataclass(frozen=True)
class ConsensusFeatures:
    """Per item, the consensus label (class index) and the features that describe how sure it is."""

    labels: np.ndarray
    values: np.ndarray
    names: tuple[str, ...]


def log_odds(probability: np.ndarray) -> np.ndarray:
    probability = np.clip(probability, LOG_ODDS_FLOOR, 1 - LOG_ODDS_FLOOR)
    return np.log(probability) - np.log1p(-probability)


def feature_names(methods: Sequence[str]) -> tuple[str, ...]:
    return (*(f"log_odds_{method}" for method in methods), "log_answers")


def describe_consensus(label_probabilities: Mapping[str, np.ndarray], answer_counts: np.ndarray) -> np.ndarray:
    """The feature matrix: per item, each method's log-odds for the consensus label (in the mapping's
    order: method → probability of that label), then log(1 + answers)."""
    columns = [log_odds(np.asarray(probability, dtype=float)) for probability in label_probabilities.values()]
    columns.append(np.log1p(np.asarray(answer_counts, dtype=float)))
    return np.column_stack(columns)


def consensus_features(answers: Answers, *, methods: Sequence[str] = FEATURE_METHODS, label_method: str = "ds"
                       ) -> tuple[ConsensusFeatures, Result]:
    """Run each of `methods` and describe every item's `label_method` consensus (describe_consensus).
    Returns the features and the label method's result. Raises KeyError for an unknown method."""
    results = {method: METHODS[method](answers) for method in dict.fromkeys([label_method, *methods])}
    labels = results[label_method].labels
    rows = np.arange(answers.n_items)
    values = describe_consensus({method: results[method].posteriors[rows, labels] for method in methods},
                                vote_counts(answers).sum(axis=1))
    return ConsensusFeatures(labels, values, feature_names(methods)), results[label_method]


@dataclass(frozen=True)
class Calibration:
    """A fitted P(consensus right | features): logistic regression on standardized features."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    intercept: float
    coefficients: np.ndarray
    confirmed: int  # expert outcomes it was fitted on: consensus right ...
    corrected: int  # ... and consensus wrong

    def probability_right(self, values: np.ndarray) -> np.ndarray:
        return expit(self.intercept + ((np.asarray(values, dtype=float) - self.mean) / self.scale) @ self.coefficients)

    def to_json(self) -> dict:
        return {"features": list(self.names), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "intercept": self.intercept, "coefficients": self.coefficients.tolist(),
                "confirmed": self.confirmed, "corrected": self.corrected}

    @classmethod
    def from_json(cls, data: dict) -> Calibration:
        return cls(tuple(data["features"]), np.array(data["mean"]), np.array(data["scale"]), float(data["intercept"]),
                   np.array(data["coefficients"]), int(data["confirmed"]), int(data["corrected"]))


def fit_calibration(values: np.ndarray, right: np.ndarray, *, names: Sequence[str], l2: float = L2_PENALTY,
                    min_outcomes: int = MIN_OUTCOMES) -> Calibration | None:
    """Fit P(right | values) to expert outcomes (`right[i]`: the consensus of checked item i was the
    expert's label). None while fewer than `min_outcomes` consensus labels were confirmed or corrected.
    Raises ValueError when values and outcomes differ in length."""
    values, right = np.asarray(values, dtype=float), np.asarray(right, dtype=bool)
    if values.ndim != 2 or len(values) != len(right) or values.shape[1] != len(names):
        raise ValueError(f"{len(right)} outcomes, features of shape {values.shape}, {len(names)} feature names")
    confirmed = int(right.sum())
    corrected = len(right) - confirmed
    if min(confirmed, corrected) < max(min_outcomes, 1):
        return None
    mean = values.mean(axis=0)
    scale = values.std(axis=0)
    scale[scale < 1e-12] = 1.0  # a constant feature (every item has 10 answers) carries nothing
    intercept, coefficients = _ridge_logistic((values - mean) / scale, right.astype(float), l2)
    return Calibration(tuple(names), mean, scale, intercept, coefficients, confirmed, corrected)


def _ridge_logistic(x: np.ndarray, y: np.ndarray, l2: float, *, max_steps: int = 100) -> tuple[float, np.ndarray]:
    """Newton's method on the logistic log-likelihood minus l2/2 · |coefficients|² (the intercept is
    not penalized): the objective is strictly concave, so full steps converge in a handful."""
    design = np.column_stack([np.ones(len(x)), x])
    penalty = np.full(design.shape[1], l2)
    penalty[0] = 0.0
    weights = np.zeros(design.shape[1])
    for _ in range(max_steps):
        predicted = expit(design @ weights)
        gradient = design.T @ (predicted - y) + penalty * weights
        hessian = (design * (predicted * (1 - predicted))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(weights)), gradient)
        weights -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(weights[0]), weights[1:]


@dataclass
class ExpertRouter:
    """Sends items to experts in batches, least likely right first, and learns from each batch.

    Until experts have confirmed and corrected MIN_OUTCOMES consensus labels each, items are ranked
    by the label model's own confidence; from then on by the calibrated probability that the
    consensus is right, refitted after every batch on the features each checked item had when it
    was sent. Expert labels are clamped as gold, so they also anchor the worker estimates."""

    answers: Answers
    methods: tuple[str, ...] = FEATURE_METHODS
    label_method: str = "ds"
    calibrate: bool = True  # False: always rank by the label model's posterior (the baseline)
    expert_labels: np.ndarray = field(init=False)
    calibration: Calibration | None = field(init=False, default=None)
    _sent_features: list[np.ndarray] = field(init=False, default_factory=list)
    _sent_right: list[np.ndarray] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.expert_labels = self.answers.gold.copy()
        self._refresh()

    def _refresh(self) -> None:
        self.features, self.result = consensus_features(self.answers.with_gold(self.expert_labels),
                                                        methods=self.methods, label_method=self.label_method)

    @property
    def checked(self) -> np.ndarray:
        return self.expert_labels >= 0

    def probability_right(self) -> np.ndarray:
        """Per item: 1 where an expert answered, else the calibrated (or, before enough outcomes, the
        label model's) probability that the consensus label is right."""
        if self.calibration is None:
            probability = self.result.confidence.copy()
        else:
            probability = self.calibration.probability_right(self.features.values)
        probability[self.checked] = 1.0
        return probability

    def next_batch(self, size: int, *, eligible: np.ndarray | None = None) -> np.ndarray:
        """Indices of the `size` unchecked items (among `eligible`) least likely to be right."""
        waiting = ~self.checked if eligible is None else ~self.checked & eligible
        score = np.where(waiting, self.probability_right(), np.inf)
        order = np.argsort(score, kind="stable")[:max(0, min(size, int(waiting.sum())))]
        return order

    def record(self, items: np.ndarray, labels: np.ndarray) -> None:
        """The experts' class indices for `items`: outcomes for the calibration, gold for the models."""
        items, labels = np.asarray(items, dtype=np.int64), np.asarray(labels, dtype=np.int64)
        self._sent_features.append(self.features.values[items])
        self._sent_right.append(self.features.labels[items] == labels)
        self.expert_labels[items] = labels
        if self.calibrate:
            self.calibration = fit_calibration(np.concatenate(self._sent_features),
                                               np.concatenate(self._sent_right), names=self.features.names)
        self._refresh()
