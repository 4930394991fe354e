"""The model code on its own (no database): losses, training, pretraining, checkpoints, images."""
import numpy as np
import pytest
import torch

from training.learning import (
    Cancelled,
    LabelNet,
    NetworkSpec,
    PretrainConfig,
    TrainConfig,
    build_network,
    checkpoint_bytes,
    classification_metrics,
    load_checkpoint,
    predict,
    prepare_image,
    pretrain_contrastive,
    soft_cross_entropy,
    train,
    transfer_weights,
)

SPEC = NetworkSpec(task="classification", classes=2, size=16, channels=(8, 16))


def two_kinds_of_images(count: int = 32, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Noise, or noise with a bright square somewhere (class 1): a task a small network learns in a
    few steps."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    images = rng.normal(0, 0.1, (count, 1, 16, 16)).astype(np.float32)
    for index in np.flatnonzero(labels):
        row, column = rng.integers(0, 11, 2)
        images[index, 0, row:row + 5, column:column + 5] += 1.0
    return torch.from_numpy(images), labels


def test_soft_cross_entropy_is_cross_entropy_for_one_hot_targets_and_weights_examples():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    hard = torch.tensor([0, 1])

    one_hot = soft_cross_entropy(logits, torch.eye(2)[hard], torch.ones(2))
    weighted = soft_cross_entropy(logits, torch.eye(2)[hard], torch.tensor([1.0, 0.0]))

    assert float(one_hot) == pytest.approx(float(torch.nn.functional.cross_entropy(logits, hard)), abs=1e-6)
    assert float(weighted) == pytest.approx(float(torch.nn.functional.cross_entropy(logits[:1], hard[:1])), abs=1e-6)


def test_training_on_soft_targets_learns_the_task():
    images, labels = two_kinds_of_images()
    targets = torch.from_numpy(np.where(np.eye(2)[labels] > 0, 0.9, 0.1).astype(np.float32))  # unsure crowd
    model = build_network(SPEC)

    history = train(model, images, targets, torch.ones(len(images)), TrainConfig(epochs=15, batch_size=8))

    test_images, test_labels = two_kinds_of_images(seed=1)
    assert history[-1] < history[0]
    assert classification_metrics(predict(model, test_images).probabilities, test_labels)["accuracy"] >= 0.9


def test_a_cancelled_training_stops_at_the_next_step():
    images, labels = two_kinds_of_images()

    with pytest.raises(Cancelled):
        train(build_network(SPEC), images, torch.eye(2)[labels], torch.ones(len(images)), TrainConfig(epochs=5),
              should_stop=lambda: True)


def test_head_training_leaves_a_pretrained_encoder_as_it_was():
    images, labels = two_kinds_of_images()
    model = build_network(SPEC)
    pretrain_contrastive(model, images, PretrainConfig(epochs=2, batch_size=16))
    encoder = {name: tensor.clone() for name, tensor in model.encoder.state_dict().items()}

    train(model, images, torch.eye(2)[labels], torch.ones(len(images)), TrainConfig(epochs=3, train_layers="head"))

    for name, tensor in model.encoder.state_dict().items():
        assert torch.equal(tensor, encoder[name]), name


def test_predict_gives_probabilities_embeddings_and_dropout_samples():
    images, _ = two_kinds_of_images(8)

    outputs = predict(build_network(SPEC), images, mc_samples=5)

    assert outputs.probabilities.shape == (8, 2) and np.allclose(outputs.probabilities.sum(axis=1), 1)
    assert outputs.embeddings.shape == (8, 16)
    assert outputs.mc_probabilities.shape == (5, 8, 2)


def test_a_checkpoint_round_trips_exactly(tmp_path):
    images, labels = two_kinds_of_images()
    model = build_network(SPEC)
    train(model, images, torch.eye(2)[labels], torch.ones(len(images)), TrainConfig(epochs=2))

    (tmp_path / "v1.pt").write_bytes(checkpoint_bytes(model, SPEC, run=7))
    reloaded, spec, extra = load_checkpoint(tmp_path / "v1.pt")

    assert spec == SPEC and extra["run"] == 7
    np.testing.assert_array_equal(predict(model, images).probabilities, predict(reloaded, images).probabilities)


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")

    with pytest.raises(ValueError, match="not a CardioCrowd model checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_transfer_takes_what_fits_and_leaves_a_new_head():
    source = build_network(NetworkSpec(task="classification", classes=5, size=16, channels=(8, 16)))
    target = LabelNet(SPEC)

    copied = transfer_weights(target, {"state_dict": source.state_dict()})

    assert "head.weight" not in copied and any(name.startswith("encoder.") for name in copied)
    assert torch.equal(target.encoder[0].conv.weight, source.encoder[0].conv.weight)
    with pytest.raises(ValueError, match="no weights"):
        transfer_weights(target, {"unrelated": torch.zeros(3)})


def test_segmentation_networks_are_monai_unets():
    network = build_network(NetworkSpec(task="segmentation", classes=2, size=32, channels=(8, 16, 32, 64)))

    assert type(network).__name__ == "BasicUNet"
    assert network(torch.zeros(1, 1, 32, 32)).shape == (1, 2, 32, 32)


@pytest.mark.parametrize(("pixels", "window", "expected_range"), [
    (np.arange(400, dtype=np.uint16).reshape(20, 20) * 10, (2000.0, 4000.0), (0.0, 1.0)),
    (np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8), None, (0.0, 1.0)),
])
def test_images_are_greyscale_windowed_and_resampled_to_the_grid(pixels, window, expected_range):
    image = prepare_image(pixels, 16, window=window)

    assert image.shape == (1, 16, 16) and image.dtype == np.float32
    assert expected_range[0] <= image.min() and image.max() <= expected_range[1]
