"""Active-learning strategies: which unlabeled items a model would learn most from. Pure numpy (no
Django, no torch), so the benchmark, the Celery task and the tests call the same functions.

Each strategy turns the model's outputs on the pool into a score per item (higher: label it sooner)
and, for a batch of size k, the k items to label next. Scores become task priorities.

    scores = uncertainty(probabilities, "entropy")
    batch = select_batch("tcm", probabilities=..., embeddings=..., labeled=..., batch_size=20, rng=rng)
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

STRATEGIES = ("random", "entropy", "margin", "bald", "coreset", "typiclust", "tcm")
SEGMENTATION_STRATEGIES = ("random", "pixel_entropy", "tta_variance")
FLOOR = 1e-12
# TCM: typical, cluster-covering items while the labeled set is small (an uncertain model's
# uncertainty is noise), margin after; Doucet et al. 2023 ("TCM"), Hacohen et al. 2022 (TypiClust).
TCM_SWITCH_PER_CLASS = 20
TYPICALITY_NEIGHBOURS = 20
MAX_CLUSTERS = 500


def entropy(probabilities: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of each row of class probabilities."""
    p = np.clip(probabilities, FLOOR, 1.0)
    return -(p * np.log(p)).sum(axis=-1)


def margin(probabilities: np.ndarray) -> np.ndarray:
    """One minus the gap between the two most probable classes: 1 for a tie, 0 for certainty."""
    top = np.sort(probabilities, axis=-1)
    return 1.0 - (top[..., -1] - top[..., -2])


def bald(mc_probabilities: np.ndarray) -> np.ndarray:
    """BALD (Houlsby et al. 2011) from T Monte-Carlo dropout samples (T × items × classes): the
    mutual information between the label and the weights, entropy of the mean minus mean entropy."""
    return entropy(mc_probabilities.mean(axis=0)) - entropy(mc_probabilities).mean(axis=0)


def pixel_entropy(probability_maps: np.ndarray) -> np.ndarray:
    """Mean per-pixel entropy of segmentation probability maps (items × classes × H × W)."""
    p = np.clip(probability_maps, FLOOR, 1.0)
    return -(p * np.log(p)).sum(axis=1).reshape(len(p), -1).mean(axis=1)


def tta_variance(augmented_maps: np.ndarray) -> np.ndarray:
    """Mean per-pixel variance of the foreground probability over test-time augmentations
    (T × items × H × W, each map already mapped back to the original grid)."""
    return augmented_maps.var(axis=0).reshape(augmented_maps.shape[1], -1).mean(axis=1)


def uncertainty(probabilities: np.ndarray, strategy: str, *, mc_probabilities: np.ndarray | None = None
                ) -> np.ndarray:
    """The per-item score of an uncertainty strategy (entropy, margin, bald). Raises ValueError
    for another strategy, or BALD without Monte-Carlo samples."""
    if strategy == "entropy":
        return entropy(probabilities)
    if strategy == "margin":
        return margin(probabilities)
    if strategy == "bald":
        if mc_probabilities is None:
            raise ValueError("bald needs Monte-Carlo dropout samples")
        return bald(mc_probabilities)
    raise ValueError(f"{strategy!r} is not an uncertainty strategy")


def k_center_greedy(embeddings: np.ndarray, labeled: Sequence[int], k: int,
                    candidates: np.ndarray | None = None) -> list[int]:
    """Core-set selection (Sener & Savarese 2018): k items, each the candidate farthest from
    everything labeled or chosen so far, so a batch covers the embedding space instead of piling
    into one corner. Returns item indices."""
    candidates = np.arange(len(embeddings)) if candidates is None else np.asarray(candidates)
    if k <= 0 or candidates.size == 0:
        return []
    points = embeddings[candidates].astype(np.float64)
    chosen: list[int] = []
    if len(labeled):
        nearest = _min_distances(points, embeddings[np.asarray(labeled)].astype(np.float64))
    else:  # nothing labeled yet: start from the candidate nearest the centre
        first = int(np.argmin(((points - points.mean(axis=0)) ** 2).sum(axis=1)))
        chosen.append(int(candidates[first]))
        nearest = ((points - points[first]) ** 2).sum(axis=1)
        nearest[first] = -np.inf
    while len(chosen) < min(k, len(points)):
        pick = int(np.argmax(nearest))
        chosen.append(int(candidates[pick]))
        nearest = np.minimum(nearest, ((points - points[pick]) ** 2).sum(axis=1))
        nearest[pick] = -np.inf
    return chosen


def _min_distances(points: np.ndarray, centres: np.ndarray, chunk: int = 4096) -> np.ndarray:
    best = np.full(len(points), np.inf)
    for start in range(0, len(centres), chunk):
        block = centres[start:start + chunk]
        squared = (points ** 2).sum(1)[:, None] - 2 * points @ block.T + (block ** 2).sum(1)[None, :]
        best = np.minimum(best, squared.min(axis=1))
    return np.maximum(best, 0.0)


def typicality(embeddings: np.ndarray, neighbours: int = TYPICALITY_NEIGHBOURS) -> np.ndarray:
    """Inverse mean distance to the nearest neighbours: high in dense, representative regions."""
    n = len(embeddings)
    k = min(neighbours, n - 1)
    if k < 1:
        return np.ones(n)
    squared = (embeddings ** 2).sum(1)
    distances = np.sqrt(np.maximum(squared[:, None] - 2 * embeddings @ embeddings.T + squared[None, :], 0.0))
    nearest = np.partition(distances, k, axis=1)[:, 1:k + 1]
    return 1.0 / (nearest.mean(axis=1) + FLOOR)


def typiclust(embeddings: np.ndarray, labeled: Sequence[int], k: int, *, rng: np.random.Generator) -> list[int]:
    """TypiClust (Hacohen et al. 2022): cluster the pool into |labeled| + k clusters, then take the
    most typical item of each of the largest clusters no label covers yet. Strong when labels are
    few, before a model's uncertainty means anything."""
    labeled = np.asarray(labeled, dtype=np.int64)
    n_clusters = int(min(len(labeled) + k, MAX_CLUSTERS, len(embeddings)))
    assignment = _kmeans(embeddings, n_clusters, rng)
    sizes = np.bincount(assignment, minlength=n_clusters)
    covered = np.zeros(n_clusters, dtype=bool)
    covered[assignment[labeled]] = True
    taken = np.zeros(len(embeddings), dtype=bool)
    taken[labeled] = True
    chosen: list[int] = []
    for cluster in sorted(range(n_clusters), key=lambda c: (covered[c], -sizes[c])):
        if len(chosen) == k:
            break
        members = np.flatnonzero((assignment == cluster) & ~taken)
        if members.size < 2:
            continue
        chosen.append(int(members[np.argmax(typicality(embeddings[members]))]))
    if len(chosen) < k:  # tiny clusters only: fill with the farthest items
        chosen += k_center_greedy(embeddings, [*labeled.tolist(), *chosen], k - len(chosen),
                                  candidates=np.flatnonzero(~taken & ~np.isin(np.arange(len(embeddings)), chosen)))
    return chosen


def _kmeans(points: np.ndarray, n_clusters: int, rng: np.random.Generator, iterations: int = 30) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding; returns each point's cluster."""
    points = points.astype(np.float64)
    centres = [points[rng.integers(len(points))]]
    nearest = ((points - centres[0]) ** 2).sum(1)
    for _ in range(1, n_clusters):
        total = nearest.sum()
        pick = rng.choice(len(points), p=nearest / total) if total > 0 else rng.integers(len(points))
        centres.append(points[pick])
        nearest = np.minimum(nearest, ((points - points[pick]) ** 2).sum(1))
    centres = np.array(centres)
    assignment = np.zeros(len(points), dtype=np.int64)
    for _ in range(iterations):
        squared = (points ** 2).sum(1)[:, None] - 2 * points @ centres.T + (centres ** 2).sum(1)[None, :]
        new = squared.argmin(axis=1)
        if np.array_equal(new, assignment) and _ > 0:
            break
        assignment = new
        for cluster in range(n_clusters):
            members = points[assignment == cluster]
            if len(members):
                centres[cluster] = members.mean(axis=0)
    return assignment


@dataclass(frozen=True)
class Selection:
    """The next batch to label (item indices, in order) and a priority for every item of the pool:
    the batch first, in its order, then the rest by score."""

    batch: list[int]
    priorities: np.ndarray


def select_batch(strategy: str, *, n_items: int, labeled: Sequence[int], batch_size: int, rng: np.random.Generator,
                 probabilities: np.ndarray | None = None, mc_probabilities: np.ndarray | None = None,
                 embeddings: np.ndarray | None = None, n_classes: int = 2, labels_so_far: int | None = None
                 ) -> Selection:
    """The next `batch_size` items of a pool of `n_items` (indices; `labeled` are taken) by
    `strategy`, and priorities for all. Model outputs are for the whole pool (rows = items).
    Without a model yet (probabilities None) uncertainty strategies fall back to random.
    `labels_so_far` counts labels outside the pool too (TCM switches on it; default: `labeled`).
    Raises ValueError for an unknown strategy or missing inputs it needs."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    labeled = np.asarray(labeled, dtype=np.int64)
    unlabeled = np.setdiff1d(np.arange(n_items), labeled)
    k = min(batch_size, unlabeled.size)
    scores = np.zeros(n_items)
    if strategy == "tcm":
        known = labeled.size if labels_so_far is None else labels_so_far
        strategy = "typiclust" if known < TCM_SWITCH_PER_CLASS * n_classes or probabilities is None else "margin"
    if strategy in ("entropy", "margin", "bald") and probabilities is None:
        strategy = "random"
    if strategy in ("coreset", "typiclust") and embeddings is None:
        raise ValueError(f"{strategy} needs the model's embeddings")
    if strategy == "random":
        scores[unlabeled] = rng.random(unlabeled.size)
        batch = unlabeled[np.argsort(-scores[unlabeled], kind="stable")[:k]].tolist()
    elif strategy in ("entropy", "margin", "bald"):
        scores = uncertainty(probabilities, strategy, mc_probabilities=mc_probabilities)
        batch = unlabeled[np.argsort(-scores[unlabeled], kind="stable")[:k]].tolist()
    elif strategy == "coreset":
        batch = k_center_greedy(embeddings, labeled.tolist(), k, candidates=unlabeled)
    else:
        batch = typiclust(embeddings, labeled.tolist(), k, rng=rng)
    return Selection(batch, priorities_for(batch, scores, labeled))


def priorities_for(batch: list[int], scores: np.ndarray, labeled: np.ndarray) -> np.ndarray:
    """Task priorities: the chosen batch above everything (in its order), the rest by score, items
    already labeled at the bottom. Scores are squashed into (0, 1) so the batch always leads."""
    finite = np.nan_to_num(scores.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    spread = finite.max() - finite.min()
    priorities = (finite - finite.min()) / spread if spread > 0 else np.zeros_like(finite)
    priorities = 0.999 * priorities
    priorities[np.asarray(batch, dtype=np.int64)] = 1.0 + np.arange(len(batch), 0, -1)
    priorities[labeled] = -1.0
    return priorities
