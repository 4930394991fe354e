"""`auto` and the Dawid-Skene family on sparse, many-class crowds derived from the real shared sets
(tests/consensus/sparse_crowds.py): most workers with at most three answers, one to seven answers an
item, 5 % of the items as gold, and a 13-class union. No database.

crowd-kit's accuracies on these sets are recorded in sparse_crowdkit_reference.json (its one-coin and
GLAD take up to eight minutes a set); tests/benchmarks/bench_consensus.py --sparse recomputes them.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from labeling.consensus.categorical import METHODS, encode
from labeling.consensus.selection import CANDIDATES, typical_answers_per_worker
from tests.consensus.sparse_crowds import UNION_NAME, sparse_crowd, sparse_set_names
from tests.consensus.test_categorical import tie_aware_accuracy

REFERENCE = json.loads((Path(__file__).parent / "sparse_crowdkit_reference.json").read_text())
TOLERANCE_POINTS = 0.005
# Where auto falls short, said plainly (strict: a fix makes these tests fail until the mark goes).
SHORT_OF_CROWDKIT = {
    "act_sp_amt": "MV is best here (0.9316); auto's default MACE-uniform reaches 0.9263, 0.03 points short",
    "zheng_d_jn_product": "crowd-kit's unregularized one-coin reaches 0.9075; ours, shrunk towards the crowd, 0.8849",
}
SHORT_OF_MAJORITY_VOTE = {"act_sp_amt": SHORT_OF_CROWDKIT["act_sp_amt"]}


def auto_accuracy(name: str) -> tuple[float, dict]:
    crowd = sparse_crowd(name)
    answers = encode(crowd.items, crowd.workers, crowd.labels, gold=crowd.gold)
    result = METHODS["auto"](answers)
    return tie_aware_accuracy(result.posteriors, answers.classes.tolist(), answers.item_ids.tolist(),
                              crowd.evaluated), result.selection


_auto_cache: dict[str, tuple[float, dict]] = {}


def cached_auto(name: str) -> tuple[float, dict]:
    if name not in _auto_cache:
        _auto_cache[name] = auto_accuracy(name)
    return _auto_cache[name]


def expect_shortfall(name: str, known: dict[str, str]) -> None:
    if name in known:
        pytest.xfail(known[name])


def test_the_sparse_sets_look_like_real_labeling_crowds() -> None:
    for name in sparse_set_names():
        shape = sparse_crowd(name).describe()

        assert shape["workers_with_at_most_3_answers"] >= 0.95, name
        assert shape["answers_per_item_min"] == 1, name
        assert shape["answers_per_item_max"] <= 7, name
        assert shape["gold"] >= 1, name
    assert sparse_crowd(UNION_NAME).describe()["classes"] == 13


def test_a_sparse_set_is_the_same_on_every_run() -> None:
    first = sparse_crowd.__wrapped__("snow_temp")

    second = sparse_crowd.__wrapped__("snow_temp")

    assert (first.items, first.workers, first.labels, first.gold) == (second.items, second.workers, second.labels,
                                                                       second.gold)


@pytest.mark.parametrize("name", sparse_set_names())
def test_auto_is_as_good_as_crowdkits_best_method(name: str) -> None:
    expect_shortfall(name, SHORT_OF_CROWDKIT)

    ours, selection = cached_auto(name)

    best = max(value for method, value in REFERENCE[name].items())
    assert ours >= best - TOLERANCE_POINTS - 1e-9, f"{name}: auto ({selection['method']}) {ours:.4f} < {best:.4f}"


@pytest.mark.parametrize("name", sparse_set_names())
def test_auto_is_at_least_majority_vote(name: str) -> None:
    expect_shortfall(name, SHORT_OF_MAJORITY_VOTE)

    ours, selection = cached_auto(name)

    assert ours >= REFERENCE[name]["mv"] - 1e-9, f"{name}: auto ({selection['method']}) {ours:.4f}"


@pytest.mark.parametrize("name", sparse_set_names())
def test_the_empirical_bayes_prior_keeps_dawid_skene_from_collapsing(name: str) -> None:
    crowd = sparse_crowd(name)
    answers = encode(crowd.items, crowd.workers, crowd.labels, gold=crowd.gold)

    laplace, empirical = METHODS["ds"](answers), METHODS["ds_eb"](answers)

    def accuracy(result) -> float:
        return tie_aware_accuracy(result.posteriors, answers.classes.tolist(), answers.item_ids.tolist(),
                                  crowd.evaluated)
    assert accuracy(empirical) > accuracy(laplace)
    assert accuracy(empirical) >= REFERENCE[name]["mv"] - 0.25  # never the 15-to-50 % collapse of the Laplace prior


def test_auto_records_what_it_chose_and_why() -> None:
    _, selection = cached_auto("zheng_s4_dog")

    assert selection["method"] == "mace_uniform"
    assert selection["basis"] == "answers_per_worker"
    assert selection["answers_per_worker"] == 3
    assert "default" in selection["reason"] and "40 known items" in selection["reason"]
    assert set(selection["scores"]) == set(CANDIDATES)
    assert selection["scores"]["mv"]["known_items"] == 40


def test_known_answers_overrule_the_default_only_when_significant() -> None:
    _, selection = cached_auto("zheng_d_jn_product")

    assert selection["default"] == "mace_uniform"
    assert selection["method"] == "onecoin"
    assert selection["basis"] == "known_answers"
    assert "significant" in selection["reason"]


def test_a_dense_crowd_defaults_to_dawid_skene() -> None:
    # 30 workers answering all 200 items of a 3-class task, each with a confusion matrix of their own.
    random = np.random.default_rng(3)
    truth = random.integers(0, 3, 200)
    items, workers, labels = [], [], []
    for worker in range(30):
        confusion = random.dirichlet(np.ones(3), size=3) * 0.4 + np.eye(3) * 0.6
        for item, label in enumerate(truth):
            items.append(item), workers.append(worker), labels.append(random.choice(3, p=confusion[label]))
    answers = encode(items, workers, labels)

    result = METHODS["auto"](answers)

    assert typical_answers_per_worker(answers) == 200
    assert result.selection["method"] == "ds" and result.method == "ds"
    assert np.mean(answers.classes[result.labels] == truth) >= 0.95


def test_with_nothing_known_the_default_stands() -> None:
    crowd = sparse_crowd("snow_temp")
    answers = encode(crowd.items, crowd.workers, crowd.labels)

    result = METHODS["auto"](answers)

    assert result.selection["method"] == "mace_uniform"
    assert all(scores["known_items"] == 0 for scores in result.selection["scores"].values())
    assert "known items" not in result.selection["reason"]


def test_the_command_line_chooses_with_auto_and_says_why(tmp_path: Path) -> None:
    crowd = sparse_crowd("snow_temp")
    (tmp_path / "answers.csv").write_text("item,worker,label\n" + "".join(
        f"{item},{worker},{label}\n" for item, worker, label in zip(crowd.items, crowd.workers, crowd.labels,
                                                                    strict=True)))
    (tmp_path / "known.csv").write_text("item,label\n" + "".join(f"{i},{label}\n" for i, label in crowd.gold.items()))

    completed = subprocess.run(
        [sys.executable, "-m", "labeling.consensus", "--method", "auto", "--input", str(tmp_path / "answers.csv"),
         "--gold", str(tmp_path / "known.csv"), "--output", str(tmp_path / "out.csv")],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True)

    assert completed.returncode == 0, completed.stderr
    assert "auto chose mace_uniform: mace_uniform by default" in completed.stderr
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert rows[0] == "item,label,confidence" and len(rows) == 1 + 462
    known = dict(row.split(",")[:2] for row in rows[1:] if row.split(",")[0] in crowd.gold)
    assert known == crowd.gold  # the known items are clamped
