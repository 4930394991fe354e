"""What a model learns from and what it scores: the stage's items with their consensus as soft
targets (confidence as weight, experts' labels weighted more), a held-out set of expert labels for
metrics, the pool of items still waiting, and their images, decoded from the de-identified store as
the DICOMweb endpoints decode them."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut, pixel_array

from cardiocrowd import blobs
from cardiocrowd.imaging.storage import instance_name
from labeling.consensus.masks import answer_mask
from labeling.estimation import expert_decided_labels
from labeling.models import Consensus, GoldAnswer, Item, Task
from labeling.selectors import item_instances

from .learning import prepare_image, prepare_mask
from .models import ModelSpec

# An expert's label (a gold item, an item decided after review) counts this many crowd consensus
# labels of full confidence: the expert tier is the reference the crowd is measured against.
EXPERT_WEIGHT = 2.0
# Share of the expert-labeled items held out to measure each version (chosen by a hash of the item
# id, so an item stays on its side from one run to the next).
VALIDATION_SHARE = 0.3


@dataclass
class Examples:
    items: list[int] = field(default_factory=list)
    targets: list = field(default_factory=list)  # soft class rows, values, or mask targets
    weights: list[float] = field(default_factory=list)
    frames: list[tuple[str, int]] = field(default_factory=list)  # (SOP instance UID, frame) the target belongs to

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class TrainingData:
    train: Examples
    validation: Examples
    pool: list[int]  # items of the stage still open for labeling (what priorities apply to)


def in_validation(item_id: int) -> bool:
    digest = hashlib.sha256(f"validation:{item_id}".encode()).digest()
    return digest[0] / 256 < VALIDATION_SHARE


def gather(spec: ModelSpec) -> TrainingData:
    """The stage's labeled items (consensus, gold, reviewed) as training and validation examples,
    and its open items as the pool."""
    stage = spec.stage
    consensus = {task_item: fields for task_item, fields in Consensus.objects.filter(
        task__stage=stage, task__kind=Task.Kind.NORMAL).values_list("task__item_id", "fields")}
    shares = {task_item: confidence for task_item, confidence in Consensus.objects.filter(
        task__stage=stage, task__kind=Task.Kind.NORMAL).values_list("task__item_id", "confidence")}
    tasks = dict(Task.objects.filter(stage=stage).values_list("pk", "item_id"))
    expert = {tasks[task]: value for task, value in expert_decided_labels(stage).items() if task in tasks}
    expert.update({tasks[task]: value for task, value in
                   GoldAnswer.objects.filter(task__stage=stage).values_list("task_id", "value")})
    train, validation = Examples(), Examples()
    for item_id in sorted(set(consensus) | set(expert)):
        if item_id in expert and spec.field in expert[item_id]:
            target, weight = _hard_target(spec, expert[item_id][spec.field]), EXPERT_WEIGHT
            where = validation if in_validation(item_id) else train
            located = expert[item_id][spec.field]
        elif item_id in consensus and spec.field in consensus[item_id]:
            entry = consensus[item_id][spec.field]
            target, weight = _soft_target(spec, entry), _confidence(entry, shares.get(item_id))
            where, located = train, entry.get("value")
        else:
            continue
        if target is None or weight <= 0:
            continue
        where.items.append(item_id)
        where.targets.append(target)
        where.weights.append(weight)
        where.frames.append(_frame_of(located))
    pool = list(Task.objects.filter(stage=stage, kind=Task.Kind.NORMAL, state=Task.State.OPEN)
                .values_list("item_id", flat=True).order_by("item_id"))
    return TrainingData(train, validation, pool)


def _confidence(entry: dict, task_confidence: float | None) -> float:
    calibrated = entry.get("calibrated")
    share = entry.get("share")
    value = calibrated if calibrated is not None else share if share is not None else task_confidence
    return float(value) if value is not None else 1.0


def _hard_target(spec: ModelSpec, value):
    if spec.task == ModelSpec.Task.CLASSIFICATION:
        if value not in spec.labels:
            return None
        row = np.zeros(len(spec.labels), dtype=np.float32)
        row[spec.labels.index(value)] = 1.0
        return row
    if spec.task == ModelSpec.Task.REGRESSION:
        return np.array([float(value)], dtype=np.float32) if isinstance(value, (int, float)) else None
    return value if isinstance(value, dict) else None  # a shape: rasterized when its image is read


def _soft_target(spec: ModelSpec, entry: dict):
    """The consensus as a distribution: the chosen class keeps its probability (calibrated if a run
    could, else its share), the rest is spread evenly over the other classes."""
    value = entry.get("value")
    if spec.task != ModelSpec.Task.CLASSIFICATION:
        return _hard_target(spec, value)
    if value not in spec.labels:
        return None
    chosen = entry.get("calibrated") if entry.get("calibrated") is not None else entry.get("share", 1.0)
    chosen = float(min(max(chosen if chosen is not None else 1.0, 0.0), 1.0))
    row = np.full(len(spec.labels), (1.0 - chosen) / max(len(spec.labels) - 1, 1), dtype=np.float32)
    row[spec.labels.index(value)] = chosen
    return row


def _frame_of(value) -> tuple[str, int]:
    if isinstance(value, dict) and isinstance(value.get("instance"), str):
        return value["instance"], int(value.get("frame", 1))
    return "", 0


# --- images --------------------------------------------------------------------------------------


def item_frame(item: Item, sop_uid: str = "", frame: int = 0) -> tuple[np.ndarray, pydicom.Dataset]:
    """A frame of an item's images as pixels (colour as RGB, palette colour applied): the named
    instance and frame, else the middle frame of the item's middle image (an item's most typical
    view of a cine or a series). Returns the pixels and the instance's header."""
    instances = list(item_instances(item).values_list("sop_instance_uid", "relative_path", "number_of_frames"))
    if not instances:
        raise LookupError(f"item {item.pk} has no available image")
    chosen = next((row for row in instances if row[0] == sop_uid), instances[len(instances) // 2])
    number = frame if chosen[0] == sop_uid and frame else (chosen[2] + 1) // 2
    # Ranged reads: the header and one frame, not the whole cine, when the store is object storage.
    with blobs.open_reader(instance_name(chosen[1])) as file:
        header = pydicom.dcmread(file, stop_before_pixels=True)
        pixels = pixel_array(file, index=number - 1)
    if header.get("PhotometricInterpretation") == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, header)  # the palette's tables lie before the pixel data
    return pixels, header


def window_of(header: pydicom.Dataset) -> tuple[float, float] | None:
    centre, width = header.get("WindowCenter"), header.get("WindowWidth")
    if centre is None or width is None:
        return None
    first = lambda value: float(value[0] if isinstance(value, pydicom.multival.MultiValue) else value)  # noqa: E731
    return first(centre), first(width)


def model_input(item: Item, size: int, sop_uid: str = "", frame: int = 0) -> np.ndarray:
    pixels, header = item_frame(item, sop_uid, frame)
    return prepare_image(pixels, size, window=window_of(header) if header.get("Modality") in ("CT", "MR") else None)


def segmentation_target(item: Item, answer: dict, size: int) -> np.ndarray:
    """A contour or brush answer as a two-channel target (background, foreground) on the model grid."""
    pixels, _ = item_frame(item, answer.get("instance", ""), int(answer.get("frame", 1)))
    rows, columns = pixels.shape[:2]
    foreground = prepare_mask(answer_mask(answer, rows, columns).astype(np.float32), size)[0]
    return np.stack([1.0 - foreground, foreground]).astype(np.float32)
