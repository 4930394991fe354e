"""The categorical consensus engine against crowd-kit 1.4.2: accuracy and time on the shared crowd sets,
speed on a synthetic million answers, and expert routing by calibrated consensus confidence.

    python tests/benchmarks/bench_consensus.py [--datasets snow_rte ...] [--no-reference] [--repeats 3]
                                               [--routing-only] [--sparse-only] [--sparse-reference]

`sparse`: every method and crowd-kit's on the sparse real-derived sets (tests/consensus/sparse_crowds.py,
5 % gold; crowd-kit's figures recorded unless --sparse-reference); `auto`: what auto chose on each set,
why, and its distance to crowd-kit's best method and to majority vote.

Timing: ours is the median of --repeats runs after one warm-up, from the raw id columns (encode
included); crowd-kit is one run on a pandas frame built beforehand, after a warm-up on a small
frame. Accuracy is against gold over the items that have gold. `accuracy` is tie-aware (an item whose
top probability is shared by m classes scores 1/m if gold is among them), for both sides, so no tie
rule wins or loses by luck; `accuracy_hard` / `reference_accuracy_hard` score the hard labels each
engine returns. Where crowd-kit would run for hours (GLAD on a million answers), it runs on a
subsample and every extrapolated figure says so in its key. Progress goes to stderr; the last line
printed is one JSON object.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[2]
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))
from labeling.consensus.calibration import FEATURE_METHODS  # noqa: E402
from labeling.consensus.categorical import METHODS, Answers, encode  # noqa: E402
from tests.consensus.sparse_crowds import sparse_crowd, sparse_set_names  # noqa: E402
from tests.consensus.test_calibration import routing_curve  # noqa: E402
from tests.consensus.test_categorical import (  # noqa: E402
    CATEGORICAL_SETS,
    REFERENCE_METHODS,
    read_crowd_set,
    tie_aware_accuracy,
)

ROUTING_THRESHOLDS = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 0.9999, 0.99999, 1 - 1e-6, 1 - 1e-8, 1 - 1e-10]
ROUTING_BATCH_SHARE, ROUTING_BATCHES = 0.05, 10
ROUTING_GOAL_SHARE, ROUTING_GOAL_ACCURACY = 0.30, 0.98
REFERENCE_NAMES = {"mv": "MajorityVote", "ds": "DawidSkene", "onecoin": "OneCoinDawidSkene", "glad": "GLAD",
                   "mace": "MACE"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def reference_model(method: str, **options):
    import crowdkit.aggregation as aggregation

    if method == "mace":
        # Every restart reseeds with random_state=0: the default 10 restarts are 10 copies of one run.
        options.setdefault("n_restarts", 1)
    return getattr(aggregation, REFERENCE_NAMES[method])(**options)


def time_ours(method: str, columns: tuple, repeats: int, **options) -> tuple[Answers, object, float]:
    """(answers, result, median seconds) of encode + aggregate, after one untimed warm-up."""
    METHODS[method](encode(*columns), **options)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        answers = encode(*columns)
        result = METHODS[method](answers, **options)
        times.append(time.perf_counter() - started)
    return answers, result, statistics.median(times)


def time_reference(method: str, frame, **options) -> tuple[object, float]:
    """(probability frame, seconds) of one crowd-kit run, after a warm-up on the first 500 answers."""
    reference_model(method, **options).fit_predict_proba(frame.head(500))
    started = time.perf_counter()
    probabilities = reference_model(method, **options).fit_predict_proba(frame)
    return probabilities, time.perf_counter() - started


def hard_accuracy(labels: list, item_ids: list, gold: dict) -> float:
    hits = [gold[item] == label for item, label in zip(item_ids, labels, strict=True) if item in gold]
    return float(np.mean(hits))


def bench_datasets(names: list[str], *, repeats: int, reference: bool) -> dict:
    import pandas as pd

    figures: dict = {}
    for name in names:
        items, workers, labels, gold = read_crowd_set(name)
        frame = pd.DataFrame({"task": items, "worker": workers, "label": labels})
        figures[name] = {}
        for method in METHODS:
            answers, result, seconds = time_ours(method, (items, workers, labels), repeats if method != "auto" else 1)
            entry = {
                "accuracy": round(tie_aware_accuracy(result.posteriors, answers.classes.tolist(),
                                                     answers.item_ids.tolist(), gold), 4),
                "accuracy_hard": round(hard_accuracy(answers.classes[result.labels].tolist(),
                                                     answers.item_ids.tolist(), gold), 4),
                "seconds": round(seconds, 4), "iterations": result.iterations, "converged": result.converged}
            if result.selection is not None:
                entry["chose"], entry["reason"] = result.selection["method"], result.selection["reason"]
            if reference and method in REFERENCE_METHODS:
                probabilities, reference_seconds = time_reference(method, frame)
                columns = list(probabilities.columns)
                entry.update({
                    "reference_accuracy": round(tie_aware_accuracy(probabilities.to_numpy(), columns,
                                                                   list(probabilities.index), gold), 4),
                    # crowd-kit's own hard labels: idxmax, the first column (the smallest label) on a tie.
                    "reference_accuracy_hard": round(hard_accuracy(probabilities.idxmax(axis=1).tolist(),
                                                                   list(probabilities.index), gold), 4),
                    "reference_seconds": round(reference_seconds, 3)})
            figures[name][method] = entry
            log(f"{name} {method}: {entry}")
    return figures


def synthetic_answers(*, items: int, workers: int, classes: int, per_item: int, seed: int) -> tuple:
    """A crowd where each worker has their own confusion matrix: per true class, right with a probability
    drawn from U(0.5, 0.95), wrong answers spread by a Dirichlet(1). Each item gets `per_item` distinct
    workers. Returns (items, workers, labels, truth)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, items)
    accuracy = rng.uniform(0.5, 0.95, (workers, classes))
    spread = rng.dirichlet(np.ones(classes - 1), (workers, classes))
    confusion = np.zeros((workers, classes, classes))
    for true_class in range(classes):
        others = [other for other in range(classes) if other != true_class]
        confusion[:, true_class, true_class] = accuracy[:, true_class]
        confusion[:, true_class, others] = (1 - accuracy[:, true_class, None]) * spread[:, true_class]
    chunk = max(1, 5_000_000 // workers)  # distinct workers per item: the smallest of random keys
    chosen = np.concatenate([
        rng.random((min(chunk, items - start), workers)).argpartition(per_item, axis=1)[:, :per_item]
        for start in range(0, items, chunk)])
    item_column = np.repeat(np.arange(items), per_item)
    worker_column = chosen.ravel()
    cumulative = confusion[worker_column, truth[item_column]].cumsum(axis=1)
    labels = np.minimum((rng.random(len(item_column))[:, None] > cumulative).sum(axis=1), classes - 1)
    return item_column, worker_column, labels, truth


def bench_synthetic(arguments: argparse.Namespace) -> dict:
    import pandas as pd

    started = time.perf_counter()
    items, workers, labels, truth = synthetic_answers(items=arguments.items, workers=arguments.workers,
                                                      classes=arguments.classes, per_item=arguments.per_item,
                                                      seed=arguments.seed)
    frame = pd.DataFrame({"task": items, "worker": workers, "label": labels})
    log(f"synthetic: {len(items)} answers in {time.perf_counter() - started:.1f} s")

    def ours(method: str, columns: tuple = (items, workers, labels), answer_truth=truth, **options) -> dict:
        answers, result, seconds = time_ours(method, columns, arguments.repeats, **options)
        accuracy = float((answers.classes[result.labels] == answer_truth[answers.item_ids]).mean())
        return {"seconds": round(seconds, 4), "accuracy": round(accuracy, 5), "iterations": result.iterations}

    def reference(method: str, data=frame, answer_truth=truth, **options) -> dict:
        probabilities, seconds = time_reference(method, data, **options)
        hard = probabilities.idxmax(axis=1)
        accuracy = float((hard.to_numpy() == answer_truth[hard.index.to_numpy()]).mean())
        return {"reference_seconds": round(seconds, 3), "reference_accuracy": round(accuracy, 5)}

    figures: dict = {"answers": len(items), "items": arguments.items, "workers": arguments.workers,
                     "classes": arguments.classes}
    for method in ("mv", "ds", "ds_eb", "onecoin", "mace", "auto"):
        entry = ours(method)
        if arguments.reference and method in REFERENCE_METHODS:
            entry.update(reference(method))
            entry["speedup"] = round(entry["reference_seconds"] / entry["seconds"], 1)
        if method == "mace":
            entry["reference_note"] = ("MACE(n_restarts=1): the same output as the default 10 restarts, which all "
                                       "start from random_state=0; the default would take about 10x as long")
        figures[method] = entry
        log(f"synthetic {method}: {entry}")

    # The same stopping rule on both sides: exactly 100 EM iterations.
    entry = ours("ds", max_iterations=100, tolerance=-1.0)
    if arguments.reference:
        entry.update(reference("ds", n_iter=100, tol=-1.0))
        entry["speedup"] = round(entry["reference_seconds"] / entry["seconds"], 1)
    figures["ds_100_iterations"] = entry
    log(f"synthetic ds, 100 iterations: {entry}")

    # crowd-kit's GLAD needs hours for a million answers: both sides run on the first items, and the
    # reference's time is scaled linearly in answers (its cost per EM iteration is).
    entry = ours("glad")
    if arguments.reference:
        keep = np.repeat(np.arange(arguments.glad_reference_items), arguments.per_item)
        subsample = (items[keep], workers[keep], labels[keep])
        measured = reference("glad", frame.iloc[keep])
        ours_subsample = ours("glad", subsample)
        entry.update({
            "reference_subsample_answers": len(keep),
            "reference_subsample_seconds": measured["reference_seconds"],
            "reference_subsample_accuracy": measured["reference_accuracy"],
            "subsample_seconds": ours_subsample["seconds"], "subsample_accuracy": ours_subsample["accuracy"],
            "subsample_speedup": round(measured["reference_seconds"] / ours_subsample["seconds"], 1),
            "reference_seconds_extrapolated": round(measured["reference_seconds"] * len(items) / len(keep), 1),
        })
        entry["speedup_extrapolated"] = round(entry["reference_seconds_extrapolated"] / entry["seconds"], 1)
    figures["glad"] = entry
    log(f"synthetic glad: {entry}")
    return figures


def bench_sparse(*, reference: bool) -> dict:
    """Each method (auto included, with 5 % of the items as gold) and crowd-kit's namesakes (no gold) on the
    sparse real-derived sets: tie-aware accuracy over the items that are not gold, and what auto chose."""
    import pandas as pd

    recorded = json.loads((REPOSITORY / "tests" / "consensus" / "sparse_crowdkit_reference.json").read_text())
    figures: dict = {}
    for name in sparse_set_names():
        crowd = sparse_crowd(name)
        answers = encode(crowd.items, crowd.workers, crowd.labels, gold=crowd.gold)
        entry: dict = {"shape": crowd.describe(), "ours": {}, "crowdkit": {}}
        for method in METHODS:
            started = time.perf_counter()
            result = METHODS[method](answers)
            entry["ours"][method] = round(tie_aware_accuracy(result.posteriors, answers.classes.tolist(),
                                                             answers.item_ids.tolist(), crowd.evaluated), 4)
            if method == "auto":
                entry["auto_seconds"] = round(time.perf_counter() - started, 2)
                entry["auto_chose"], entry["auto_reason"] = result.selection["method"], result.selection["reason"]
        frame = pd.DataFrame({"task": crowd.items, "worker": crowd.workers, "label": crowd.labels})
        for method in REFERENCE_METHODS:
            if reference:
                probabilities, _ = time_reference(method, frame)
                entry["crowdkit"][method] = round(tie_aware_accuracy(
                    probabilities.to_numpy(), list(probabilities.columns), list(probabilities.index),
                    crowd.evaluated), 4)
            else:
                entry["crowdkit"][method] = recorded[name][method]
        entry["crowdkit_source"] = "live" if reference else "recorded (sparse_crowdkit_reference.json)"
        best = max(entry["crowdkit"], key=entry["crowdkit"].get)
        entry["crowdkit_best"] = {"method": best, "accuracy": entry["crowdkit"][best]}
        entry["auto_minus_crowdkit_best_points"] = round(100 * (entry["ours"]["auto"] - entry["crowdkit"][best]), 2)
        entry["auto_minus_mv_points"] = round(100 * (entry["ours"]["auto"] - entry["ours"]["mv"]), 2)
        figures[name] = entry
        log(f"sparse {name}: {entry}")
    return figures


def auto_summary(sparse: dict, datasets: dict) -> dict:
    """What auto chose on every set and why, and how it stands against crowd-kit's best and MV."""
    return {
        "sparse": {name: {"chose": entry["auto_chose"], "reason": entry["auto_reason"],
                          "minus_crowdkit_best_points": entry["auto_minus_crowdkit_best_points"],
                          "minus_mv_points": entry["auto_minus_mv_points"]} for name, entry in sparse.items()},
        "sparse_sets_within_half_a_point_of_crowdkit_best": sum(
            entry["auto_minus_crowdkit_best_points"] >= -0.5 for entry in sparse.values()),
        "sparse_sets_at_least_mv": sum(entry["auto_minus_mv_points"] >= 0 for entry in sparse.values()),
        "sparse_sets": len(sparse),
        "full": {name: {"chose": entry["auto"].get("chose"), "accuracy": entry["auto"]["accuracy"]}
                 for name, entry in datasets.items() if "auto" in entry},
    }


def bench_routing(names: list[str], *, method: str) -> dict:
    """Expert routing simulated with the gold labels as the experts' answers; per set and way, a list of
    [expert share, accuracy over the items with gold].

    - `routing`: the calibrated router (labeling/consensus/calibration.py): batches of 5 % of the items,
      least likely right first, where that probability is learned from the experts' earlier verdicts on
      the consensus (each model's log-odds and the number of answers as features); expert labels
      clamped as gold before the next batch is chosen.
    - `routing_pipeline_features`: the same with only what the pipeline knows when a task completes
      (Dawid-Skene with learned confusions, and the vote).
    - `routing_by_model_confidence`: batches chosen by the label model's own posterior.
    - `routing_threshold_sweep`: one shot, items below each threshold of the model's posterior go to experts.
    """
    figures: dict = {"routing": {}, "routing_pipeline_features": {}, "routing_by_model_confidence": {},
                     "routing_threshold_sweep": {}}
    for name in names:
        items, workers, labels, gold = read_crowd_set(name)
        answers = encode(items, workers, labels, gold=gold)
        truth, blind = answers.gold, answers.without_gold()
        known = truth >= 0  # an item without gold has no expert answer to reveal

        def point(result, routed: np.ndarray) -> list[float]:
            return [round(float(routed[known].mean()), 4), round(float((result.labels == truth)[known].mean()), 4)]

        first = METHODS[method](blind)
        figures["routing_threshold_sweep"][name] = [
            point(METHODS[method](blind.with_gold(np.where(routed, truth, -1))), routed)
            for routed in (known & (first.confidence < threshold) for threshold in ROUTING_THRESHOLDS)]

        for key, methods, calibrate in (("routing", FEATURE_METHODS, True),
                                        ("routing_pipeline_features", (method, "mv"), True),
                                        ("routing_by_model_confidence", (method,), False)):
            figures[key][name] = routing_curve(blind, truth, batches=ROUTING_BATCHES, batch_share=ROUTING_BATCH_SHARE,
                                               methods=methods, label_method=method, calibrate=calibrate)
        log(f"routing {name}: calibrated {figures['routing'][name]}, "
            f"by model confidence {figures['routing_by_model_confidence'][name]}")
    figures["routing_goal"] = routing_goal(figures["routing"])
    return figures


def routing_goal(curves: dict) -> dict:
    """Per set, the accuracy at the largest expert share up to ROUTING_GOAL_SHARE, and how many sets
    reach ROUTING_GOAL_ACCURACY there."""
    at_goal = {name: max((point for point in points if point[0] <= ROUTING_GOAL_SHARE + 1e-9), default=[0.0, None])
               for name, points in curves.items()}
    return {"expert_share_at_most": ROUTING_GOAL_SHARE, "accuracy_at_least": ROUTING_GOAL_ACCURACY,
            "per_set": at_goal,
            "sets_meeting_goal": sorted(name for name, (_, accuracy) in at_goal.items()
                                        if accuracy is not None and accuracy >= ROUTING_GOAL_ACCURACY),
            "sets": len(curves)}


def staple_figures() -> dict | None:
    """The STAPLE benchmark's figures, when its module is there (another part of the consensus issue)."""
    path = Path(__file__).with_name("consensus_staple.py")
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("consensus_staple", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.staple_figures() if hasattr(module, "staple_figures") else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="*", default=CATEGORICAL_SETS)
    parser.add_argument("--no-reference", dest="reference", action="store_false", help="skip crowd-kit")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2_000)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--per-item", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--glad-reference-items", type=int, default=500,
                        help="items of the synthetic set crowd-kit's GLAD runs on (x per-item answers)")
    parser.add_argument("--routing-method", default="ds", choices=sorted(METHODS))
    parser.add_argument("--no-staple", dest="staple", action="store_false")
    parser.add_argument("--routing-only", action="store_true", help="only the expert routing simulation")
    parser.add_argument("--sparse-only", action="store_true", help="only the sparse sets and auto's choices")
    parser.add_argument("--sparse-reference", action="store_true",
                        help="run crowd-kit live on the sparse sets (about 40 minutes) instead of its recorded figures")
    arguments = parser.parse_args()
    if arguments.routing_only:
        print(json.dumps({"routing_method": arguments.routing_method,
                          **bench_routing(arguments.datasets, method=arguments.routing_method)}))
        return

    sparse = bench_sparse(reference=arguments.sparse_reference)
    if arguments.sparse_only:
        print(json.dumps({"sparse": sparse, "auto": auto_summary(sparse, {})}))
        return
    datasets = bench_datasets(arguments.datasets, repeats=arguments.repeats, reference=arguments.reference)
    result: dict = {
        "timing": f"ours: median of {arguments.repeats} runs after a warm-up, encode included; "
                  "crowd-kit: one run after a warm-up",
        "datasets": datasets,
        "sparse": sparse,
        "auto": auto_summary(sparse, datasets),
        "synthetic_1m": bench_synthetic(arguments),
        "routing_method": arguments.routing_method,
        "routing_thresholds": ROUTING_THRESHOLDS,
    }
    result.update(bench_routing(arguments.datasets, method=arguments.routing_method))
    staple = staple_figures() if arguments.staple else None
    if staple is not None:
        result["staple"] = staple
    print(json.dumps(result))


if __name__ == "__main__":
    main()
