"""The models that learn from the crowd's labels: networks, training on soft targets, self-supervised
pretraining, prediction with uncertainty, metrics and checkpoints. Pure torch and MONAI (no Django),
so the Celery task, the benchmark and the tests share it; LEARNING.md says why each choice.

    network = build_network(NetworkSpec(task="classification", classes=2, size=64))
    pretrain_contrastive(network, unlabeled_images, PretrainConfig())     # optional, no labels
    train(network, images, soft_targets, weights, TrainConfig(train_layers="head"))
    outputs = predict(network, pool_images, mc_samples=20)               # probabilities, embeddings
"""
from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import ContrastiveLoss, DiceLoss
from monai.metrics import DiceMetric, ROCAUCMetric
from monai.networks.blocks import Convolution
from monai.networks.nets import BasicUNet
from monai.transforms import Resize, ScaleIntensityRangePercentiles
from torch import nn

TASKS = ("classification", "regression", "segmentation")
Progress = Callable[[float, str], None]  # (share done, what is happening)
ShouldStop = Callable[[], bool]


class Cancelled(Exception):
    """The run was asked to stop; the model is left as it was before the step that noticed."""


@dataclass(frozen=True)
class NetworkSpec:
    """What a project's model is: its task, outputs and input grid (square, `size` pixels)."""

    task: str = "classification"
    classes: int = 2  # classes (classification, segmentation incl. background); 1 for regression
    size: int = 64
    in_channels: int = 1
    channels: tuple[int, ...] = (16, 32, 64, 128)
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, not {self.task!r}")
        if self.classes < 1 or self.size < 8:
            raise ValueError("a network needs at least one output and an input of at least 8 pixels")

    def as_json(self) -> dict:
        return {**asdict(self), "channels": list(self.channels)}

    @classmethod
    def from_json(cls, data: dict) -> NetworkSpec:
        return cls(**{**data, "channels": tuple(data.get("channels", cls.channels))})


class LabelNet(nn.Module):
    """Image → embedding → class logits (or a value): MONAI convolution blocks, two per level, the
    first of each level striding by 2, global average pooling, dropout, a linear head. Dropout stays
    switchable at prediction time for Monte-Carlo estimates (BALD)."""

    def __init__(self, spec: NetworkSpec) -> None:
        super().__init__()
        layers, previous = [], spec.in_channels
        for level, width in enumerate(spec.channels):
            layers += [Convolution(2, previous, width, strides=1 if level == 0 else 2, act="RELU", norm="BATCH"),
                       Convolution(2, width, width, act="RELU", norm="BATCH")]
            previous = width
        self.encoder = nn.Sequential(*layers)
        self.embedding_size = previous
        # Standardizes embeddings (fixed, from the project's images; identity until set): a linear
        # head on standardized features learns from a few labels as well as a tuned probe does.
        self.register_buffer("feature_mean", torch.zeros(previous))
        self.register_buffer("feature_scale", torch.ones(previous))
        self.dropout = nn.Dropout(spec.dropout)
        self.head = nn.Linear(previous, spec.classes)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return (self.encoder(images).mean(dim=(2, 3)) - self.feature_mean) / self.feature_scale

    @torch.no_grad()
    def standardize_features(self, images: torch.Tensor, batch_size: int = 256) -> None:
        """Set the embedding standardization from `images` (all of a project's, labeled or not)."""
        self.feature_mean.zero_()
        self.feature_scale.fill_(1.0)
        self.eval()
        embeddings = torch.cat([self.embed(batch) for batch in images.split(batch_size)])
        self.feature_mean.copy_(embeddings.mean(dim=0))
        self.feature_scale.copy_(embeddings.std(dim=0).clamp(min=1e-6))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(images)))


def build_network(spec: NetworkSpec) -> nn.Module:
    """A LabelNet for classification and regression, MONAI's BasicUNet for segmentation."""
    if spec.task == "segmentation":
        widths = (*spec.channels[:4], spec.channels[-1] * 2, spec.channels[0])
        widths = tuple(widths) if len(spec.channels) >= 4 else (16, 32, 64, 128, 256, 16)
        return BasicUNet(spatial_dims=2, in_channels=spec.in_channels, out_channels=spec.classes, features=widths,
                         dropout=spec.dropout)
    return LabelNet(spec)


# --- images ----------------------------------------------------------------------------------------


def prepare_image(pixels: np.ndarray, size: int, *, window: tuple[float, float] | None = None) -> np.ndarray:
    """One frame as the model sees it: greyscale (colour averaged by luminance), intensities mapped to
    0..1 by the DICOM window (centre, width) when given, else by the 1st–99th percentile, resampled
    to size × size. Returns float32, 1 × size × size."""
    image = np.asarray(pixels, dtype=np.float32)
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        image = image[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"a frame is rows × columns (× colour), not {pixels.shape}")
    image = image[None]
    if window is not None:
        centre, width = window
        low, high = centre - width / 2, centre + width / 2
        image = np.clip((image - low) / max(high - low, 1e-6), 0.0, 1.0)
    else:
        image = ScaleIntensityRangePercentiles(lower=1, upper=99, b_min=0.0, b_max=1.0, clip=True)(image)
    return np.asarray(Resize((size, size), mode="area")(image), dtype=np.float32)


def prepare_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """A mask (rows × columns, 0..1 probabilities or 0/1) on the model's grid: 1 × size × size."""
    return np.asarray(Resize((size, size), mode="area")(np.asarray(mask, dtype=np.float32)[None]), dtype=np.float32)


def augment(images: torch.Tensor, generator: torch.Generator, *, strength: float = 1.0,
            masks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A random flip, rotation (±15°), zoom and shift per image, and a gain/offset of intensity: one
    batched affine resampling (a per-image transform pipeline costs more than the network on a CPU).
    Masks, if given, take the same geometry."""
    n = images.shape[0]
    uniform = lambda low, high: torch.empty(n).uniform_(low, high, generator=generator)  # noqa: E731
    scale = uniform(1 - 0.3 * strength, 1.0)
    angle = uniform(-0.26 * strength, 0.26 * strength)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = scale * torch.cos(angle) * flip, -scale * torch.sin(angle)
    theta[:, 1, 0], theta[:, 1, 1] = scale * torch.sin(angle) * flip, scale * torch.cos(angle)
    shift = 0.15 * strength
    theta[:, 0, 2], theta[:, 1, 2] = uniform(-shift, shift), uniform(-shift, shift)
    grid = F.affine_grid(theta.to(images.device), list(images.shape), align_corners=False)
    moved = F.grid_sample(images, grid, padding_mode="reflection", align_corners=False)
    gain = torch.empty(n, 1, 1, 1).uniform_(1 - 0.3 * strength, 1 + 0.3 * strength, generator=generator)
    offset = torch.empty(n, 1, 1, 1).uniform_(-0.1 * strength, 0.1 * strength, generator=generator)
    moved = moved * gain.to(images.device) + offset.to(images.device)
    moved_masks = None
    if masks is not None:
        moved_masks = F.grid_sample(masks, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return moved, moved_masks


# --- training ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    """How a model is fitted. `train_layers="head"` keeps the (pretrained) encoder fixed and fits the
    head alone: with few labels it generalizes better and costs a fraction of the time."""

    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    train_layers: str = "all"  # "all" or "head"
    # With few labels an epoch is a single step, and a network needs some hundreds of steps to learn
    # anything but the class prior: epochs are added until the run takes at least this many.
    min_steps: int = 300
    head_l2: float = 1.0  # ridge penalty of the head fitted alone (per unit of example weight)
    augmentation: float = 1.0
    seed: int = 0
    device: str = "cpu"


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft targets (rows of class probabilities), weighted per example: the
    consensus posterior is the target and its confidence the weight, so an item the crowd was unsure
    of teaches less, and a gold item more."""
    return _loss("classification", logits, targets, weights, None)


def train(model: nn.Module, images: torch.Tensor | None, targets: torch.Tensor, weights: torch.Tensor,
          config: TrainConfig, *, task: str = "classification", progress: Progress | None = None,
          should_stop: ShouldStop | None = None, embeddings: torch.Tensor | None = None) -> list[float]:
    """Fit `model` to (images, targets) with per-example `weights`. Targets: class probabilities
    (N × K) for classification, values (N × 1, standardized by the caller) for regression,
    probability maps (N × K × H × W) for segmentation. Fitting the head alone, the images'
    `embeddings` may be given instead (the encoder is fixed, so they are what it would compute).
    Returns the mean loss per epoch. Raises Cancelled when `should_stop` says so (checked every
    batch), ValueError on empty data."""
    if len(targets) == 0:
        raise ValueError("no labeled examples to train on")
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    model.to(device)
    targets, weights = targets.to(device), weights.to(device, dtype=torch.float32)
    if config.train_layers == "head" and isinstance(model, LabelNet):
        # The encoder is fixed: embed once, then fit the linear head to convergence on the embeddings.
        inputs = embeddings if embeddings is not None else embed(model, images, device=config.device)
        history = fit_head(model, inputs.to(device), targets, weights, task=task, l2=config.head_l2,
                           progress=progress, should_stop=should_stop)
        model.eval()
        return history
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    dice = DiceLoss(softmax=True, reduction="none") if task == "segmentation" else None
    inputs = images.to(device)
    steps_per_epoch = math.ceil(len(inputs) / config.batch_size)
    epochs = max(config.epochs, math.ceil(config.min_steps / steps_per_epoch))
    history = []
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(inputs), generator=generator)
        total = 0.0
        for step, start in enumerate(range(0, len(inputs), config.batch_size)):
            if should_stop is not None and should_stop():
                raise Cancelled
            index = order[start:start + config.batch_size]
            batch, target, weight = inputs[index], targets[index], weights[index]
            mask_target = target if task == "segmentation" else None
            if config.augmentation > 0:
                batch, mask_target = augment(batch, generator, strength=config.augmentation, masks=mask_target)
                if task == "segmentation":
                    target = mask_target / mask_target.sum(dim=1, keepdim=True).clamp(min=1e-6)
            output = model(batch)
            loss = _loss(task, output, target, weight, dice)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
            if progress is not None:
                progress((epoch * steps_per_epoch + step + 1) / (epochs * steps_per_epoch), "training")
        history.append(total / steps_per_epoch)
    model.eval()
    return history


def fit_head(model: LabelNet, embeddings: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, *,
             task: str, l2: float, max_iterations: int = 200, progress: Progress | None = None,
             should_stop: ShouldStop | None = None) -> list[float]:
    """Fit the linear head alone, to convergence (L-BFGS), on fixed embeddings: a ridge-penalized
    (multinomial logistic or Huber) regression, the classic linear probe. Unlike a fixed number of
    SGD epochs it needs no tuning as labels arrive, and its answer depends on the data alone, so the
    uncertainty the sampler reads is the model's and not the optimizer's. Returns the loss per step."""
    head = model.head
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
    optimizer = torch.optim.LBFGS(head.parameters(), lr=1, max_iter=max_iterations, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-7, tolerance_change=1e-10)
    history: list[float] = []

    def objective() -> torch.Tensor:
        if should_stop is not None and should_stop():
            raise Cancelled
        optimizer.zero_grad()
        fit = (_per_example_loss(task, head(embeddings), targets) * weights).sum()
        loss = fit + 0.5 * l2 * head.weight.pow(2).sum()
        loss.backward()
        history.append(loss.item() / weights.sum().clamp(min=1e-12).item())
        if progress is not None:
            progress(min(len(history) / max_iterations, 1.0), "training")
        return loss

    optimizer.step(objective)
    return history


def _per_example_loss(task: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if task == "classification":
        return -(target * F.log_softmax(output, dim=1)).sum(dim=1)
    return F.huber_loss(output, target, reduction="none").mean(dim=1)


def _loss(task: str, output: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, dice: DiceLoss | None
          ) -> torch.Tensor:
    if task in ("classification", "regression"):
        return (_per_example_loss(task, output, target) * weight).sum() / weight.sum().clamp(min=1e-12)
    per_pixel = -(target * F.log_softmax(output, dim=1)).sum(dim=1).mean(dim=(1, 2))
    overlap = dice(output, target).reshape(len(output), -1).mean(dim=1)
    return ((per_pixel + overlap) * weight).sum() / weight.sum().clamp(min=1e-12)


@dataclass(frozen=True)
class PretrainConfig:
    """Self-supervised pretraining (SimCLR, Chen et al. 2020): two augmented views of each unlabeled
    image are pulled together in a projection space, other images pushed apart (MONAI's
    ContrastiveLoss). Needs no labels, so it runs on everything a project has imported."""

    epochs: int = 60
    batch_size: int = 128
    learning_rate: float = 3e-3
    temperature: float = 0.2
    projection_size: int = 64
    seed: int = 0
    device: str = "cpu"


def pretrain_contrastive(model: LabelNet, images: torch.Tensor, config: PretrainConfig, *,
                         progress: Progress | None = None, should_stop: ShouldStop | None = None) -> list[float]:
    """Train `model`'s encoder on unlabeled `images` by contrastive learning; its head is untouched.
    Returns the mean loss per epoch. Raises Cancelled, ValueError for fewer than 2 images."""
    if len(images) < 2:
        raise ValueError("contrastive pretraining needs at least two images")
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    model.to(device)
    projection = nn.Sequential(nn.Linear(model.embedding_size, 128), nn.ReLU(),
                               nn.Linear(128, config.projection_size)).to(device)
    optimizer = torch.optim.AdamW([*model.encoder.parameters(), *projection.parameters()], lr=config.learning_rate,
                                  weight_decay=1e-5)
    loss_function = ContrastiveLoss(temperature=config.temperature)
    batch_size = min(config.batch_size, len(images))
    history = []
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(images), generator=generator)
        losses = []
        starts = list(range(0, len(images) - batch_size + 1, batch_size))
        for step, start in enumerate(starts):
            if should_stop is not None and should_stop():
                raise Cancelled
            batch = images[order[start:start + batch_size]].to(device)
            first, _ = augment(batch, generator)
            second, _ = augment(batch, generator)
            loss = loss_function(projection(model.embed(first)), projection(model.embed(second)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if progress is not None:
                done = (epoch * len(starts) + step + 1) / (config.epochs * len(starts))
                progress(done, "self-supervised pretraining")
        history.append(float(np.mean(losses)))
    model.standardize_features(images)
    return history


# --- prediction and metrics ---------------------------------------------------------------------------


@dataclass
class Outputs:
    """What a model says of a set of images: class probabilities (or values, or probability maps),
    embeddings (classification/regression), and Monte-Carlo dropout samples when asked for."""

    probabilities: np.ndarray
    embeddings: np.ndarray | None = None
    mc_probabilities: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


@torch.no_grad()
def embed(model: LabelNet, images: torch.Tensor, *, batch_size: int = 256, device: str = "cpu") -> torch.Tensor:
    """The encoder's (standardized) embeddings of `images`."""
    model.to(device).eval()
    return torch.cat([model.embed(batch.to(device)).cpu() for batch in images.split(batch_size)])


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor | None, *, task: str = "classification", mc_samples: int = 0,
            batch_size: int = 256, device: str = "cpu", embeddings: torch.Tensor | None = None) -> Outputs:
    """Outputs of `model` on `images` (or, for a LabelNet, on their `embeddings` when known); with
    `mc_samples`, that many dropout-on passes as well (the dropout sits after the embedding, so the
    encoder runs once per image)."""
    model.to(device).eval()
    probabilities, embedded, samples = [], [], []
    batches = embeddings.split(batch_size) if embeddings is not None else images.split(batch_size)
    for batch in batches:
        batch = batch.to(device)
        if isinstance(model, LabelNet):
            embedding = batch if embeddings is not None else model.embed(batch)
            embedded.append(embedding.cpu())
            logits = model.head(embedding)
            probabilities.append(_activate(task, logits).cpu())
            if mc_samples:
                model.dropout.train()
                samples.append(torch.stack([_activate(task, model.head(model.dropout(embedding)))
                                            for _ in range(mc_samples)]).cpu())
                model.dropout.eval()
        else:
            probabilities.append(_activate(task, model(batch)).cpu())
    return Outputs(probabilities=torch.cat(probabilities).numpy(),
                   embeddings=torch.cat(embedded).numpy() if embedded else None,
                   mc_probabilities=torch.cat(samples, dim=1).numpy() if samples else None)


def _activate(task: str, output: torch.Tensor) -> torch.Tensor:
    return output if task == "regression" else output.softmax(dim=1)


def classification_metrics(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy and ROC AUC (MONAI's; one-vs-rest averaged for several classes) against known labels."""
    labels = np.asarray(labels, dtype=np.int64)
    accuracy = float((probabilities.argmax(axis=1) == labels).mean()) if len(labels) else None
    auc = None
    if len(np.unique(labels)) > 1:
        metric = ROCAUCMetric(average="macro")
        onehot = np.eye(probabilities.shape[1])[labels]
        metric(torch.as_tensor(probabilities), torch.as_tensor(onehot))
        auc = float(metric.aggregate())
    return {"accuracy": accuracy, "auc": auc, "n": int(len(labels))}


def segmentation_metrics(probability_maps: np.ndarray, masks: np.ndarray) -> dict:
    """Mean Dice (MONAI's DiceMetric, foreground only) of the thresholded maps against known masks."""
    predicted = torch.as_tensor(probability_maps.argmax(axis=1))[:, None]
    truth = torch.as_tensor(masks.argmax(axis=1) if masks.ndim == 4 else masks)[:, None]
    classes = probability_maps.shape[1]
    metric = DiceMetric(include_background=False, reduction="mean")
    metric(F.one_hot(predicted[:, 0].long(), classes).permute(0, 3, 1, 2),
           F.one_hot(truth[:, 0].long(), classes).permute(0, 3, 1, 2))
    return {"dice": float(metric.aggregate()), "n": int(len(masks))}


def regression_metrics(values: np.ndarray, truth: np.ndarray) -> dict:
    values, truth = np.ravel(values), np.ravel(truth)
    return {"mae": float(np.abs(values - truth).mean()) if len(truth) else None, "n": int(len(truth))}


# --- checkpoints --------------------------------------------------------------------------------------


def checkpoint_bytes(model: nn.Module, spec: NetworkSpec, **extra) -> bytes:
    """The model's weights and spec (and `extra` entries) as one checkpoint file's bytes."""
    buffer = io.BytesIO()
    torch.save({"format": "cardiocrowd-model/1", "spec": spec.as_json(), "state_dict": model.state_dict(), **extra},
               buffer)
    return buffer.getvalue()


def load_checkpoint(source: Path | BinaryIO) -> tuple[nn.Module, NetworkSpec, dict]:
    """The model, its spec and the checkpoint's other entries, from a file or an open binary handle.
    Raises ValueError for one that is not one of ours."""
    checkpoint = torch.load(source, map_location="cpu", weights_only=False)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != "cardiocrowd-model/1":
        raise ValueError(f"{getattr(source, 'name', 'this file')} is not a CardioCrowd model checkpoint")
    spec = NetworkSpec.from_json(checkpoint["spec"])
    model = build_network(spec)
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    return model, spec, {key: value for key, value in checkpoint.items() if key not in ("spec", "state_dict")}


def transfer_weights(model: nn.Module, state_dict: dict) -> list[str]:
    """Start `model` from another model's weights: every tensor whose name and shape match is copied
    (a different head or a different number of classes is left freshly initialized). Accepts a plain
    state dict, or one under "state_dict"/"model" as MONAI bundles and many trainers save them.
    Returns the names copied; raises ValueError when nothing matches."""
    for key in ("state_dict", "model"):
        if isinstance(state_dict.get(key), dict):
            state_dict = state_dict[key]
    own = model.state_dict()
    copied = [name for name, tensor in state_dict.items()
              if name in own and hasattr(tensor, "shape") and tuple(tensor.shape) == tuple(own[name].shape)]
    if not copied:
        raise ValueError("no weights of that checkpoint fit this network (names or shapes differ)")
    own.update({name: state_dict[name] for name in copied})
    model.load_state_dict(own)
    return copied
