"""The categorical aggregation engine: priors, gold clamping, encoding, and accuracy against crowd-kit
on every real crowd set in the shared data. No database.

crowd-kit runs as the reference on the same answers, in a pool of worker processes so its slow
methods overlap with each other. Two references take minutes (crowd-kit's GLAD on zhang_web and
zheng_d_jn_product): by default those two compare with crowd-kit's recorded accuracy, and with
CARDIOCROWD_SLOW_TESTS=1 crowd-kit runs them too.
"""
from __future__ import annotations

import csv
import json
import multiprocessing
import os
import subprocess
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from labeling.consensus.categorical import (
    METHODS,
    aggregate,
    aggregate_multilabel,
    ds_posteriors,
    encode,
    item_consensus,
)
from labeling.consensus.categorical_base import factorize

REPOSITORY = Path(__file__).resolve().parents[2]
# The rule tests/conftest.py uses; repeated so that crowd-kit's worker processes can import this
# module without Django.
SHARED_DATA = Path(os.environ.get("CARDIOCROWD_SHARED_DATA", REPOSITORY.parent / "shared" / "data"))
CROWD = SHARED_DATA / "crowd"
CATEGORICAL_SETS = sorted(
    folder.name for folder in CROWD.glob("*/") if (folder / "meta.json").is_file()
    and not json.loads((folder / "meta.json").read_text())["kind"].startswith("numeric"))
# crowd-kit 1.4.2 defaults, accuracy against gold, measured on these files (the README of the shared
# data lists the same figures). Used only where the live run takes minutes.
RECORDED_REFERENCE = {("zhang_web", "glad"): 0.8217, ("zheng_d_jn_product", "glad"): 0.9282}
RUN_SLOW_REFERENCES = os.environ.get("CARDIOCROWD_SLOW_TESTS") == "1"
TOLERANCE_POINTS = 0.005
# The methods crowd-kit implements under the same name (ds_eb, mace_uniform and auto are ours alone).
REFERENCE_METHODS = ("mv", "ds", "onecoin", "glad", "mace")


def read_crowd_set(name: str) -> tuple[list[str], list[str], list[str], dict[str, str]]:
    with open(CROWD / name / "answers.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(CROWD / name / "gold.csv", newline="") as handle:
        gold = {row["item"]: row["label"] for row in csv.DictReader(handle)}
    return [row["item"] for row in rows], [row["worker"] for row in rows], [row["label"] for row in rows], gold


def tie_aware_accuracy(posteriors: np.ndarray, classes: list, item_ids: list, gold: dict) -> float:
    """Accuracy over the items with gold, where an item whose top probability is shared by m classes
    scores 1/m if gold is among them: the expected accuracy of a fair coin between tied classes, so
    neither engine's tie rule (first class, commonest class) wins or loses points by luck."""
    column = {label: index for index, label in enumerate(classes)}
    scores = []
    for row, item in enumerate(item_ids):
        if item not in gold:
            continue
        top = posteriors[row] >= posteriors[row].max() - 1e-12
        target = column.get(gold[item])
        scores.append(top[target] / top.sum() if target is not None else 0.0)
    return float(np.mean(scores))


def crowdkit_accuracy(name: str, method: str) -> tuple[float, float]:
    """crowd-kit 1.4.2 with its defaults on one shared set: (tie-aware accuracy, seconds)."""
    import pandas as pd
    from crowdkit.aggregation import GLAD, MACE, DawidSkene, MajorityVote, OneCoinDawidSkene

    # MACE seeds every restart with the same random_state, so its 10 default restarts are 10 copies of
    # one run: a single restart gives the identical result in a tenth of the time.
    models = {"mv": MajorityVote, "ds": DawidSkene, "onecoin": OneCoinDawidSkene, "glad": GLAD,
              "mace": lambda: MACE(n_restarts=1)}
    items, workers, labels, gold = read_crowd_set(name)
    frame = pd.DataFrame({"task": items, "worker": workers, "label": labels})
    started = time.perf_counter()
    probabilities = models[method]().fit_predict_proba(frame)
    seconds = time.perf_counter() - started
    return tie_aware_accuracy(probabilities.to_numpy(), list(probabilities.columns), list(probabilities.index),
                              gold), seconds


@pytest.fixture(scope="module")
def crowdkit_references(request: pytest.FixtureRequest):
    """Futures of crowd-kit's accuracy for every (set, method) this session will check, started at once
    on two processes, longest first."""
    wanted = []
    for item in request.session.items:
        parameters = getattr(getattr(item, "callspec", None), "params", {})
        if item.originalname == "test_accuracy_is_at_least_crowdkits" and "method" in parameters:
            case = (parameters["dataset"], parameters["method"])
            if case not in RECORDED_REFERENCE or RUN_SLOW_REFERENCES:
                wanted.append(case)
    slowness = {"glad": 0, "mace": 1, "ds": 2, "onecoin": 3, "mv": 4}
    wanted.sort(key=lambda case: (slowness[case[1]], case[0]))
    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch's threads
    with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1), mp_context=context) as pool:
        futures: dict[tuple[str, str], Future] = {case: pool.submit(crowdkit_accuracy, *case) for case in wanted}
        yield futures
        for future in futures.values():
            future.cancel()


@pytest.mark.parametrize("method", sorted(REFERENCE_METHODS))
@pytest.mark.parametrize("dataset", CATEGORICAL_SETS)
def test_accuracy_is_at_least_crowdkits(crowdkit_references, dataset: str, method: str) -> None:
    items, workers, labels, gold = read_crowd_set(dataset)
    answers = encode(items, workers, labels)

    result = aggregate(answers, method=method)

    ours = tie_aware_accuracy(result.posteriors, answers.classes.tolist(), answers.item_ids.tolist(), gold)
    if (dataset, method) in crowdkit_references:
        reference, _ = crowdkit_references[(dataset, method)].result()
    else:
        reference = RECORDED_REFERENCE[(dataset, method)]
    assert ours >= reference - TOLERANCE_POINTS - 1e-9, f"{dataset} {method}: {ours:.4f} < crowd-kit {reference:.4f}"


def test_every_categorical_shared_set_is_checked() -> None:
    assert len(CATEGORICAL_SETS) == 8


def test_encode_maps_ids_to_indices_and_keeps_the_vocabularies() -> None:
    answers = encode(["b", "a", "b"], ["w2", "w1", "w1"], ["no", "yes", "yes"])

    assert answers.item_ids.tolist() == ["a", "b"]
    assert answers.worker_ids.tolist() == ["w1", "w2"]
    assert answers.classes.tolist() == ["no", "yes"]
    assert answers.items.tolist() == [1, 0, 1]
    assert answers.workers.tolist() == [1, 0, 0]
    assert answers.labels.tolist() == [0, 1, 1]
    assert answers.gold.tolist() == [-1, -1]


def test_encode_keeps_items_and_labels_that_only_gold_has() -> None:
    answers = encode(["x", "x"], ["a", "b"], ["cat", "cat"], gold={"x": "bird", "z": "dog"})

    assert answers.classes.tolist() == ["bird", "cat", "dog"]
    assert answers.item_ids.tolist() == ["x", "z"]
    assert answers.gold.tolist() == [0, 2]


def test_encode_rejects_columns_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        encode(["a", "b"], ["w"], ["x", "y"])


@pytest.mark.parametrize(("values", "codes", "vocabulary"), [
    ([30, 10, 30], [1, 0, 1], [10, 30]),
    ([2, 0, 1, 1], [2, 0, 1, 1], [0, 1, 2]),
    (["b", "a"], [1, 0], ["a", "b"]),
    (["a", 1, "a"], [1, 0, 1], [1, "a"]),  # mixed types: grouped by type name (int before str)
    ([None, 2, None], [0, 1, 0], [None, 2]),
    ([(1, 2), (0, 1), (1, 2)], [1, 0, 1], [(0, 1), (1, 2)]),
])
def test_factorize(values: list, codes: list, vocabulary: list) -> None:
    found_codes, found_vocabulary = factorize(values)

    assert found_codes.tolist() == codes
    assert found_vocabulary.tolist() == vocabulary


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_unanimous_crowd_decides(method: str) -> None:
    answers = encode(["i1"] * 3 + ["i2"] * 3, ["a", "b", "c"] * 2, ["yes"] * 3 + ["no"] * 3)

    result = aggregate(answers, method=method)

    assert [label for _, label, _ in item_consensus(answers, result)] == ["yes", "no"]
    assert (result.confidence > 0.5).all()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_results_are_distributions_and_reliabilities_are_probabilities(method: str) -> None:
    items, workers, labels, _ = read_crowd_set("zheng_s4_face_sentiment")
    answers = encode(items, workers, labels)

    result = aggregate(answers, method=method)

    assert result.posteriors.shape == (answers.n_items, answers.n_classes)
    np.testing.assert_allclose(result.posteriors.sum(axis=1), 1.0)
    assert ((result.worker_reliability >= 0) & (result.worker_reliability <= 1)).all()
    assert result.iterations >= 1
    if method == "ds":
        np.testing.assert_allclose(result.confusion.sum(axis=2), 1.0)


def newcomer_and_veterans(*, newcomer_answers: int = 3) -> tuple[list, list, list, np.ndarray]:
    """40 binary items answered by five 85%-accurate veterans and one always-right veteran; a newcomer
    answers the first few items with the truth."""
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 2, 40)
    items, workers, labels = [], [], []
    for worker in range(5):
        right = rng.random(40) < 0.85
        items += list(range(40))
        workers += [f"veteran{worker}"] * 40
        labels += np.where(right, truth, 1 - truth).tolist()
    items += list(range(40)) + list(range(newcomer_answers))
    workers += ["perfect"] * 40 + ["newcomer"] * newcomer_answers
    labels += truth.tolist() + truth[:newcomer_answers].tolist()
    return items, workers, labels, truth


@pytest.mark.parametrize("method", sorted(METHODS))
def test_three_right_answers_do_not_make_a_perfect_worker(method: str) -> None:
    items, workers, labels, _ = newcomer_and_veterans()
    answers = encode(items, workers, labels)

    reliability = dict(zip(answers.worker_ids.tolist(), aggregate(answers, method=method).worker_reliability,
                           strict=True))

    assert 0.5 < reliability["newcomer"] < reliability["perfect"] < 1.0


@pytest.mark.parametrize("method", sorted(METHODS))
def test_gold_items_keep_their_gold_label_against_a_unanimous_crowd(method: str) -> None:
    items, workers, labels, truth = newcomer_and_veterans()
    wrong = {0: str(1 - truth[0]), 1: str(1 - truth[1])}
    answers = encode(items, workers, [str(label) for label in labels], gold=wrong)

    result = aggregate(answers, method=method)

    consensus = {item: (label, confidence) for item, label, confidence in item_consensus(answers, result)}
    assert consensus[0] == (wrong[0], 1.0)
    assert consensus[1] == (wrong[1], 1.0)
    assert np.isfinite(result.posteriors).all()


def colluding_majority() -> tuple[list, list, list, np.ndarray]:
    """60 binary items; four of six workers answer the opposite of what they believe, so the majority
    is wrong on almost every item."""
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 60)
    items, workers, labels = [], [], []
    for worker in range(6):
        believed = np.where(rng.random(60) < 0.9, truth, 1 - truth)
        items += list(range(60))
        workers += [f"w{worker}"] * 60
        labels += (1 - believed if worker < 4 else believed).tolist()
    return items, workers, labels, truth


@pytest.mark.parametrize("method", ["ds", "onecoin", "glad"])
def test_gold_anchors_the_worker_estimates(method: str) -> None:
    items, workers, labels, truth = colluding_majority()
    gold = {item: int(truth[item]) for item in range(15)}

    blind = aggregate(encode(items, workers, labels), method=method)
    anchored = aggregate(encode(items, workers, labels, gold=gold), method=method)

    assert (blind.labels[15:] == truth[15:]).mean() < 0.1
    assert (anchored.labels[15:] == truth[15:]).mean() == 1.0
    assert (anchored.worker_reliability[:4] < 0.2).all()
    assert (anchored.worker_reliability[4:] > 0.8).all()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_label_only_gold_uses_becomes_a_class(method: str) -> None:
    items, workers, labels, _ = newcomer_and_veterans()
    answers = encode(items, workers, labels, gold={5: "unsure", "unanswered": 1})

    result = aggregate(answers, method=method)

    assert answers.classes.tolist() == [0, 1, "unsure"]
    consensus = {item: (label, confidence) for item, label, confidence in item_consensus(answers, result)}
    assert consensus[5] == ("unsure", 1.0)
    assert consensus["unanswered"] == (1, 1.0)
    assert np.isfinite(result.posteriors).all()
    assert np.isfinite(result.worker_reliability).all()


def test_majority_vote_breaks_a_tie_towards_the_commoner_class_and_shows_it() -> None:
    answers = encode(["tie", "tie", "x", "x", "y"], ["a", "b", "a", "b", "a"], ["up", "down", "up", "up", "up"])

    result = aggregate(answers, method="mv")

    consensus = {item: (label, confidence) for item, label, confidence in item_consensus(answers, result)}
    assert consensus["tie"] == ("up", 0.5)  # "up" has 4 of the 5 answers overall


def test_an_unknown_method_is_refused() -> None:
    answers = encode(["i"], ["w"], ["x"])

    with pytest.raises(KeyError, match="known: mv, ds, ds_eb, onecoin, glad, mace, mace_uniform, auto"):
        aggregate(answers, method="wawa")


@pytest.mark.parametrize("method", sorted(METHODS))
def test_multilabel_answers_are_aggregated_label_by_label(method: str) -> None:
    # 20 echo clips, five readers. Effusion: most readers tick it on clips 0-9, one reader on 10-19.
    # Dilated: most readers on even clips, nobody on odd ones.
    items, workers, ticked = [], [], []
    for clip in range(20):
        for reader in range(5):
            chosen = set()
            if (clip < 10 and reader != 4) or (clip >= 10 and reader == 0):
                chosen.add("effusion")
            if clip % 2 == 0 and reader != 3:
                chosen.add("dilated")
            items.append(clip)
            workers.append(f"reader{reader}")
            ticked.append(chosen)

    result = aggregate_multilabel(items, workers, ticked, method=method, gold={"extra": {"thrombus"}})

    assert result.labels.tolist() == ["dilated", "effusion", "thrombus"]
    assert result.item_ids.tolist() == [*range(20), "extra"]
    expected = [[name for name, on in (("dilated", clip % 2 == 0), ("effusion", clip < 10)) if on]
                for clip in range(20)]
    assert result.chosen() == [*expected, ["thrombus"]]
    assert result.probabilities[20].tolist() == [0.0, 0.0, 1.0]
    assert result.reliability.shape == (5, 3)


def test_the_engine_imports_neither_django_nor_pandas() -> None:
    code = ("import sys, labeling.consensus.categorical, labeling.consensus.__main__; "
            "print(sorted(name for name in ('django', 'pandas') if name in sys.modules))")

    output = subprocess.run([sys.executable, "-c", code], cwd=REPOSITORY, capture_output=True, text=True, check=True)

    assert output.stdout.strip() == "[]"


def test_ds_posteriors_with_the_learned_parameters_are_dawid_skenes_unclamped_e_step() -> None:
    items, workers, labels, gold = read_crowd_set("zheng_s4_dog")
    answers = encode(items, workers, labels, gold=dict(list(gold.items())[:100]))
    result = aggregate(answers, method="ds")

    unclamped = ds_posteriors(answers, result.confusion, result.class_prior)

    free = answers.gold < 0
    np.testing.assert_allclose(unclamped[free], result.posteriors[free], atol=1e-9)
    assert (unclamped[~free].max(axis=1) < 1.0).any()  # gold rows say what the answers alone say
