"""Sparse, many-class crowds derived from the real shared crowd sets: what real labeling crowds look
like (many workers, a few answers each, a varying number of answers per item), built from real
answers so that the workers' errors stay real. No Django: the benchmark and crowd-kit's worker
processes import it.

    sparse_crowd("zhang_web") -> SparseCrowd(items, workers, labels, truth, gold)

How a set is derived (seeded, so every run and every machine sees the same set):
1. Each item keeps a random 1 to 7 of its answers (all of them when it has fewer).
2. Each real worker is, with probability SPLIT_SHARE, split into pseudo-workers who each keep 1 to 3
   of the worker's remaining answers; the rest keep all theirs (the veterans a real crowd also has).
   A pseudo-worker answers as the real worker did, so per-worker reliability is real, but a model
   sees only a few answers of each: the regime where a per-worker confusion matrix is mostly prior.
3. `union_many_classes` pools three multi-class sets (web relevance, dog breeds, face sentiment) into
   one 13-class problem: each item's classes are those of its own set, and workers of one set never
   see another's classes, so 9 of the 13 rows of every confusion matrix are unseen.
4. GOLD_SHARE of the items with ground truth (at least one) are drawn as known answers (the gold a
   stage would have); accuracy is measured on the other items.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from tests.consensus.test_categorical import CATEGORICAL_SETS, read_crowd_set

MAX_ANSWERS_PER_ITEM = 7
MAX_ANSWERS_PER_PSEUDO_WORKER = 3
SPLIT_SHARE = 0.85
GOLD_SHARE = 0.05
SEED = 20261207
UNION_SETS = ("zhang_web", "zheng_s4_dog", "zheng_s4_face_sentiment")
UNION_NAME = "union_many_classes"


@dataclass(frozen=True)
class SparseCrowd:
    name: str
    items: list[str]
    workers: list[str]
    labels: list[str]
    truth: dict[str, str]  # every item's ground truth, where the source has one
    gold: dict[str, str]  # the known answers a stage would have (GOLD_SHARE of the items with truth)

    @property
    def evaluated(self) -> dict[str, str]:
        """Ground truth of the items that are not gold: what accuracy is measured on."""
        return {item: label for item, label in self.truth.items() if item not in self.gold}

    def describe(self) -> dict:
        per_worker = np.unique(self.workers, return_counts=True)[1]
        per_item = np.unique(self.items, return_counts=True)[1]
        return {"answers": len(self.items), "items": len(per_item), "workers": len(per_worker),
                "classes": len(set(self.labels) | set(self.truth.values())),
                "workers_with_at_most_3_answers": round(float(np.mean(per_worker <= 3)), 3),
                "answers_per_item_min": int(per_item.min()), "answers_per_item_max": int(per_item.max()),
                "answers_per_item_mean": round(float(per_item.mean()), 2), "gold": len(self.gold)}


def sparse_set_names() -> list[str]:
    return [*CATEGORICAL_SETS, UNION_NAME]


@cache
def sparse_crowd(name: str) -> SparseCrowd:
    """The sparse version of a shared set (or of the 13-class union)."""
    if name == UNION_NAME:
        items, workers, labels, truth = [], [], [], {}
        for source in UNION_SETS:
            source_items, source_workers, source_labels, source_truth = read_crowd_set(source)
            items += [f"{source}/{item}" for item in source_items]
            workers += [f"{source}/{worker}" for worker in source_workers]
            labels += [f"{source}/{label}" for label in source_labels]
            truth.update({f"{source}/{item}": f"{source}/{label}" for item, label in source_truth.items()})
    else:
        items, workers, labels, truth = read_crowd_set(name)
    random = np.random.default_rng([SEED, sum(map(ord, name))])
    items, workers, labels = _thin_items(random, items, workers, labels)
    workers = _split_workers(random, workers)
    candidates = sorted(item for item in set(items) if item in truth)
    gold_count = max(1, round(GOLD_SHARE * len(candidates)))
    gold = {item: truth[item] for item in random.choice(candidates, size=gold_count, replace=False).tolist()}
    return SparseCrowd(name, items, workers, labels, {item: truth[item] for item in set(items) if item in truth}, gold)


def _thin_items(random: np.random.Generator, items: list, workers: list, labels: list) -> tuple[list, list, list]:
    by_item: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_item.setdefault(item, []).append(index)
    kept = []
    for item in sorted(by_item):
        rows = by_item[item]
        wanted = int(random.integers(1, MAX_ANSWERS_PER_ITEM + 1))
        kept += sorted(random.choice(rows, size=min(wanted, len(rows)), replace=False).tolist())
    kept.sort()
    return [items[i] for i in kept], [workers[i] for i in kept], [labels[i] for i in kept]


def _split_workers(random: np.random.Generator, workers: list) -> list:
    by_worker: dict[str, list[int]] = {}
    for index, worker in enumerate(workers):
        by_worker.setdefault(worker, []).append(index)
    renamed = list(workers)
    for worker in sorted(by_worker):
        rows = by_worker[worker]
        if random.random() >= SPLIT_SHARE:
            continue
        rows = random.permutation(rows).tolist()
        part = 0
        while rows:
            size = int(random.integers(1, MAX_ANSWERS_PER_PSEUDO_WORKER + 1))
            for index in rows[:size]:
                renamed[index] = f"{worker}~{part}"
            rows, part = rows[size:], part + 1
    return renamed
