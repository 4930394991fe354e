"""Active-learning strategies on known inputs."""
import math

import numpy as np
import pytest

from training.sampling import (
    bald,
    entropy,
    k_center_greedy,
    margin,
    pixel_entropy,
    priorities_for,
    select_batch,
    tta_variance,
    typiclust,
)

UNIFORM = np.full((1, 4), 0.25)
ONE_HOT = np.array([[0.0, 1.0, 0.0, 0.0]])


@pytest.mark.parametrize(("probabilities", "expected_entropy", "expected_margin"), [
    (UNIFORM, math.log(4), 1.0),
    (ONE_HOT, 0.0, 0.0),
    (np.array([[0.5, 0.5]]), math.log(2), 1.0),
    (np.array([[0.9, 0.1]]), -(0.9 * math.log(0.9) + 0.1 * math.log(0.1)), 0.2),
])
def test_entropy_and_margin_on_known_distributions(probabilities, expected_entropy, expected_margin):
    assert entropy(probabilities)[0] == pytest.approx(expected_entropy, abs=1e-9)
    assert margin(probabilities)[0] == pytest.approx(expected_margin, abs=1e-9)


def test_bald_is_the_disagreement_between_dropout_samples():
    agreeing = np.array([[[0.5, 0.5]], [[0.5, 0.5]]])  # unsure, but every sample unsure alike
    disagreeing = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # each sample sure, of different classes

    assert bald(agreeing)[0] == pytest.approx(0.0, abs=1e-9)
    assert bald(disagreeing)[0] == pytest.approx(math.log(2), abs=1e-6)


def test_segmentation_uncertainty_of_sure_and_unsure_maps():
    sure = np.zeros((1, 2, 4, 4))
    sure[:, 1] = 1.0
    unsure = np.full((1, 2, 4, 4), 0.5)

    assert pixel_entropy(np.concatenate([sure, unsure])) == pytest.approx([0.0, math.log(2)], abs=1e-6)
    assert tta_variance(np.stack([np.zeros((1, 4, 4)), np.ones((1, 4, 4))]))[0] == pytest.approx(0.25)


def test_k_center_spreads_a_batch_over_the_space():
    points = np.array([[0, 0], [0.1, 0], [0.2, 0], [10, 0], [10.1, 0], [0, 10]], dtype=float)

    assert sorted(k_center_greedy(points, [0], 2)) == [4, 5]  # the far corners, not the near neighbours


def test_typiclust_takes_one_typical_item_from_each_cluster():
    rng = np.random.default_rng(0)
    clusters = [rng.normal(centre, 0.1, (30, 2)) for centre in ((0, 0), (5, 5), (0, 5))]
    points = np.concatenate(clusters)

    chosen = typiclust(points, [], 3, rng=np.random.default_rng(1))

    assert sorted(index // 30 for index in chosen) == [0, 1, 2]
    for index in chosen:  # the most typical: near its cluster's centre
        centre = clusters[index // 30].mean(axis=0)
        assert np.linalg.norm(points[index] - centre) < 0.15


def test_uncertainty_strategies_pick_the_least_sure_and_without_a_model_fall_back_to_random():
    probabilities = np.array([[0.99, 0.01], [0.5, 0.5], [0.8, 0.2], [0.6, 0.4]])

    chosen = select_batch("entropy", n_items=4, labeled=[], batch_size=2, rng=np.random.default_rng(0),
                          probabilities=probabilities)
    without_model = select_batch("entropy", n_items=4, labeled=[0], batch_size=2, rng=np.random.default_rng(0))

    assert chosen.batch == [1, 3]
    assert len(without_model.batch) == 2 and 0 not in without_model.batch


def test_tcm_covers_clusters_while_labels_are_few_then_follows_the_margin():
    points = np.concatenate([np.random.default_rng(0).normal(centre, 0.1, (20, 2)) for centre in ((0, 0), (5, 5))])
    probabilities = np.tile([0.9, 0.1], (40, 1))
    probabilities[7] = [0.5, 0.5]

    early = select_batch("tcm", n_items=40, labeled=[], batch_size=2, rng=np.random.default_rng(0),
                         probabilities=probabilities, embeddings=points)
    later = select_batch("tcm", n_items=40, labeled=list(range(20, 30)), batch_size=1, rng=np.random.default_rng(0),
                         probabilities=probabilities, embeddings=points, labels_so_far=100)

    assert sorted(index // 20 for index in early.batch) == [0, 1]
    assert later.batch == [7]


def test_priorities_put_the_batch_first_in_order_then_scores_and_labeled_items_last():
    priorities = priorities_for([3, 1], np.array([0.9, 0.1, 0.5, 0.2, 0.7]), np.array([4]))

    assert list(np.argsort(-priorities)) == [3, 1, 0, 2, 4]
    assert priorities[4] == -1.0


def test_an_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="unknown strategy"):
        select_batch("guess", n_items=3, labeled=[], batch_size=1, rng=np.random.default_rng(0))
