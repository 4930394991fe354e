"""Active learning on the real BreastMNIST ultrasound set, with the platform's own training code
(training/learning.py) and strategies (training/sampling.py): labels are revealed only when a
strategy asks for them.

    python tests/benchmarks/bench_active_learning.py [--seeds 3] [--pretrain-seeds 2] [--budget 300]

The loop is the platform's: the encoder is pretrained self-supervised on the unlabeled pool (no
labels), then each round fits the model on the labels asked for so far (the encoder fixed, as the
platform does while labels are few), scores the rest of the pool, and asks for the next batch. Every
strategy starts from nothing: its first batch is its own choice (random for the uncertainty
strategies, which have no model yet). Accuracy is on the held-out test split; "all labels" is the same
recipe trained on every label of the pool. Curves are averaged over pretraining seeds × selection
seeds. Progress goes to stderr; the last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

REPOSITORY = Path(__file__).resolve().parents[2]
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))
from training.learning import (  # noqa: E402
    LabelNet,
    NetworkSpec,
    PretrainConfig,
    TrainConfig,
    classification_metrics,
    embed,
    predict,
    pretrain_contrastive,
    train,
)
from training.sampling import select_batch  # noqa: E402

SHARED_DATA = Path(os.environ.get("CARDIOCROWD_SHARED_DATA", REPOSITORY.parent / "shared" / "data"))
DATA = SHARED_DATA / "images" / "medmnist" / "breastmnist.npz"
STRATEGIES = ("random", "entropy", "margin", "bald", "coreset", "tcm")
SPEC = NetworkSpec(task="classification", classes=2, size=28, dropout=0.2)
HEAD = TrainConfig(train_layers="head")  # the platform's linear probe, fitted to convergence
MC_SAMPLES = 20
TARGET_SHARE = 0.95


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load() -> tuple[torch.Tensor, np.ndarray, torch.Tensor, np.ndarray]:
    data = np.load(DATA)
    as_images = lambda array: torch.tensor(array, dtype=torch.float32)[:, None] / 255.0  # noqa: E731
    return (as_images(data["train_images"]), data["train_labels"].ravel().astype(np.int64),
            as_images(data["test_images"]), data["test_labels"].ravel().astype(np.int64))


class Encoder:
    """A pretrained encoder and its embeddings of the pool and the test split: the encoder stays fixed
    while labels are few, so what it computes is computed once (train and predict take embeddings)."""

    def __init__(self, state: dict, pool: torch.Tensor, test: torch.Tensor) -> None:
        self.state = state
        model = self.model()
        self.pool, self.test = embed(model, pool), embed(model, test)

    def model(self) -> LabelNet:
        model = LabelNet(SPEC)
        model.load_state_dict(self.state)
        return model


def fit_head(encoder: Encoder, items: list[int] | np.ndarray, labels: np.ndarray, seed: int) -> LabelNet:
    """A fresh head on the pretrained encoder, fitted on the labels asked for so far."""
    model = encoder.model()
    targets = torch.nn.functional.one_hot(torch.as_tensor(labels), SPEC.classes).float()
    train(model, None, targets, torch.ones(len(labels)), replace(HEAD, seed=seed), embeddings=encoder.pool[items])
    return model


def active_learning_curve(strategy: str, encoder: Encoder, pool_labels: np.ndarray, test_labels: np.ndarray, *,
                          seed: int, batch: int, budget: int) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    labeled: list[int] = []
    outputs, curve = None, []
    while len(labeled) < budget:
        selection = select_batch(
            strategy, n_items=len(pool_labels), labeled=labeled, batch_size=batch, rng=rng, n_classes=SPEC.classes,
            probabilities=None if outputs is None else outputs.probabilities,
            mc_probabilities=None if outputs is None else outputs.mc_probabilities,
            embeddings=encoder.pool.numpy() if outputs is None else outputs.embeddings)
        labeled += selection.batch  # the labels of these items are revealed now
        model = fit_head(encoder, labeled, pool_labels[labeled], seed)
        outputs = predict(model, None, embeddings=encoder.pool, mc_samples=MC_SAMPLES if strategy == "bald" else 0)
        accuracy = classification_metrics(predict(model, None, embeddings=encoder.test).probabilities,
                                          test_labels)["accuracy"]
        curve.append([len(labeled), accuracy])
    return curve


def labels_to_reach(curve: list[list[float]], target: float) -> int | None:
    return next((int(labels) for labels, accuracy in curve if accuracy >= target), None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3, help="selection seeds per pretrained encoder")
    parser.add_argument("--pretrain-seeds", type=int, default=2)
    parser.add_argument("--pretrain-epochs", type=int, default=PretrainConfig.epochs)
    parser.add_argument("--batch", type=int, default=10, help="labels asked for per round")
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES))
    arguments = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    started = time.perf_counter()
    pool, pool_labels, test, test_labels = load()

    encoders, pretrain_seconds = [], []
    for pretrain_seed in range(arguments.pretrain_seeds):
        model = LabelNet(SPEC)
        clock = time.perf_counter()
        pretrain_contrastive(model, pool, PretrainConfig(epochs=arguments.pretrain_epochs, seed=pretrain_seed,
                                                         device=device))
        pretrain_seconds.append(time.perf_counter() - clock)
        encoders.append(Encoder({key: value.cpu() for key, value in model.state_dict().items()}, pool, test))
        log(f"encoder {pretrain_seed}: pretrained in {pretrain_seconds[-1]:.1f} s")

    everything = np.arange(len(pool_labels))
    full = [classification_metrics(predict(fit_head(encoder, everything, pool_labels, seed), None,
                                           embeddings=encoder.test).probabilities, test_labels)["accuracy"]
            for encoder in encoders for seed in range(arguments.seeds)]
    full_accuracy = float(np.mean(full))
    target = TARGET_SHARE * full_accuracy
    log(f"all {len(pool)} labels: accuracy {full_accuracy:.4f}; target {target:.4f}")

    strategies = {}
    for strategy in arguments.strategies:
        runs = [active_learning_curve(strategy, encoder, pool_labels, test_labels, seed=seed, batch=arguments.batch,
                                      budget=arguments.budget)
                for encoder in encoders for seed in range(arguments.seeds)]
        mean = [[labels, round(float(np.mean([run[i][1] for run in runs])), 4)]
                for i, (labels, _) in enumerate(runs[0])]
        strategies[strategy] = {"curve": mean, "labels_to_95pct": labels_to_reach(mean, target), "runs": len(runs),
                                "labels_to_95pct_per_run": [labels_to_reach(run, target) for run in runs]}
        points = " ".join(f"{n}:{a:.3f}" for n, a in mean[::3])
        log(f"{strategy}: labels to {TARGET_SHARE:.0%} of all-label accuracy "
            f"{strategies[strategy]['labels_to_95pct']}; {points} ({time.perf_counter() - started:.0f} s)")

    random_labels = strategies.get("random", {}).get("labels_to_95pct")
    reached = {name: entry["labels_to_95pct"] for name, entry in strategies.items()
               if name != "random" and entry["labels_to_95pct"] is not None}
    best = min(reached, key=reached.get) if reached else None
    result = {
        "dataset": "BreastMNIST (MedMNIST v2), 546 pool / 156 test, 28 × 28",
        "device": device, "threads": torch.get_num_threads(),
        "all_labels_accuracy": round(full_accuracy, 4), "target_accuracy": round(target, 4),
        "strategies": strategies, "best_strategy": best,
        "best_ratio": round(reached[best] / random_labels, 3) if best and random_labels else None,
        "batch": arguments.batch, "budget": arguments.budget,
        "seeds": {"pretraining": arguments.pretrain_seeds, "selection": arguments.seeds},
        "pretrain_seconds": round(statistics.median(pretrain_seconds), 2),
        "cycle_seconds": cycle_seconds(encoders[0], pool, pool_labels),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result))


def cycle_seconds(encoder: Encoder, pool: torch.Tensor, pool_labels: np.ndarray, labels: int = 200) -> float:
    """One retrain on `labels` labels and a rescore of the whole pool from its images (the encoder
    runs on every image) with Monte-Carlo dropout and a batch selection (BALD): the work a training
    run does each cycle (median of three)."""
    times = []
    for seed in range(3):
        clock = time.perf_counter()
        model = encoder.model()
        targets = torch.nn.functional.one_hot(torch.as_tensor(pool_labels[:labels]), SPEC.classes).float()
        train(model, pool[:labels], targets, torch.ones(labels), replace(HEAD, seed=seed))
        outputs = predict(model, pool, mc_samples=MC_SAMPLES)
        select_batch("bald", n_items=len(pool), labeled=list(range(labels)), batch_size=20,
                     rng=np.random.default_rng(seed), probabilities=outputs.probabilities,
                     mc_probabilities=outputs.mc_probabilities, embeddings=outputs.embeddings)
        times.append(time.perf_counter() - clock)
    return round(statistics.median(times), 3)


if __name__ == "__main__":
    main()
