"""Training runs: asked for (one queued per model, a newer request supersedes it), run by a worker
(train, self-supervised pretrain, or rescore), cancelled; and what the version in force writes back:
predictions per item and task priorities, in one transaction with the version, so a worker killed
half-way leaves the previous version in force. See LEARNING.md."""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import numpy as np
import torch
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from cardiocrowd import blobs
from labeling.consensus.masks import encode_rle
from labeling.models import Consensus, Item, Stage, Task

from . import data, learning
from .models import ModelSpec, ModelVersion, Prediction, TrainingRun
from .sampling import entropy, pixel_entropy, priorities_for, select_batch

# With a pretrained encoder and fewer labels than this, "auto" fits the head alone: it generalizes
# better from few labels, and a cycle takes seconds instead of minutes on a CPU.
AUTO_HEAD_BELOW = 300
MC_SAMPLES = 20
PROGRESS_EVERY_SECONDS = 1.0
CHOICE_KINDS = {"single_choice", "yes_no_unsure"}
SEGMENTATION_KINDS = {"contour", "freehand", "brush_mask"}


class ModelDesignError(ValueError):
    """A model spec that does not fit its stage's schema; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


# --- design ----------------------------------------------------------------------------------------


def create_spec(*, stage: Stage, field: str, user, name: str = "", size: int = 64, **settings_) -> ModelSpec:
    """A model for a label stage's field: classification for a single choice or yes/no, regression
    for a number, segmentation for a contour, freehand or brush field. Raises ModelDesignError."""
    if stage.kind != Stage.Kind.LABEL or stage.schema is None:
        raise ModelDesignError("stage", "models learn from label stages")
    definition = next((entry for entry in stage.schema.definition["fields"] if entry["key"] == field), None)
    if definition is None:
        raise ModelDesignError("field", f"the stage's schema has no field {field!r}")
    kind = definition["kind"]
    if kind in CHOICE_KINDS:
        task = ModelSpec.Task.CLASSIFICATION
        labels = ["yes", "no", "unsure"] if kind == "yes_no_unsure" else [option["value"]
                                                                           for option in definition["options"]]
    elif kind == "number":
        task, labels = ModelSpec.Task.REGRESSION, []
    elif kind in SEGMENTATION_KINDS:
        task, labels = ModelSpec.Task.SEGMENTATION, ["background", "foreground"]
    else:
        raise ModelDesignError("field", f"a {kind} field cannot be learned (choices, numbers and shapes can)")
    classes = 1 if task == ModelSpec.Task.REGRESSION else len(labels)
    network = learning.NetworkSpec(task=task, classes=classes, size=size).as_json()
    strategy = settings_.pop("strategy", None) or ("pixel_entropy" if task == ModelSpec.Task.SEGMENTATION
                                                   else ModelSpec.Strategy.TCM)
    _check_strategy(task, strategy)
    return ModelSpec.objects.create(project=stage.project, stage=stage, field=field, task=task, labels=labels,
                                    network=network, strategy=strategy, name=name or f"{stage.name}: {field}",
                                    created_by=user, **settings_)


SEGMENTATION_STRATEGIES = {"random", "pixel_entropy", "tta_variance"}


def _check_strategy(task: str, strategy: str) -> None:
    allowed = SEGMENTATION_STRATEGIES if task == ModelSpec.Task.SEGMENTATION else (
        set(ModelSpec.Strategy.values) - SEGMENTATION_STRATEGIES) | {"random"}
    if strategy not in allowed:
        known = ", ".join(sorted(allowed))
        raise ModelDesignError("strategy", f"{strategy!r} does not apply to {task}; one of {known}")


def tune_spec(*, spec: ModelSpec, changes: dict) -> ModelSpec:
    """Change a model's active-learning settings. Raises ModelDesignError."""
    if "strategy" in changes:
        _check_strategy(spec.task, changes["strategy"])
    for name, value in changes.items():
        setattr(spec, name, value)
    spec.save(update_fields=list(changes))
    return spec


# --- runs ------------------------------------------------------------------------------------------


@transaction.atomic
def request_run(*, spec: ModelSpec, kind: str = TrainingRun.Kind.TRAIN, trigger: str = "manual",
                user=None) -> TrainingRun:
    """Queue a run of `spec`; a run of the same kind still queued is superseded by it (the newer
    request sees more labels). The task is sent after commit."""
    ModelSpec.objects.select_for_update().filter(pk=spec.pk).first()  # one request at a time per model
    TrainingRun.objects.filter(spec=spec, kind=kind, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.SUPERSEDED, finished_at=timezone.now())
    run = TrainingRun.objects.create(spec=spec, kind=kind, trigger=trigger, requested_by=user)
    from .tasks import execute_run_task

    transaction.on_commit(lambda: execute_run_task.delay(run.pk))
    return run


def cancel_run(*, run: TrainingRun) -> TrainingRun:
    """Stop a run: a queued one at once, a running one at its next training step."""
    TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.CANCELLED, finished_at=timezone.now())
    TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING).update(cancel_requested=True)
    run.refresh_from_db()
    return run


def specs_due(now=None) -> list[tuple[int, str]]:
    """(model, trigger) of the models to retrain: at least `retrain_every` consensus labels newer
    than the last version, or its schedule passed with any new label, and no run waiting."""
    now = now or timezone.now()
    due = []
    for spec in ModelSpec.objects.select_related("stage"):
        if spec.runs.filter(kind=TrainingRun.Kind.TRAIN, status__in=[TrainingRun.Status.QUEUED,
                                                                     TrainingRun.Status.RUNNING]).exists():
            continue
        last = spec.versions.filter(kind="train").aggregate(at=Max("created_at"))["at"]
        labels = Consensus.objects.filter(task__stage=spec.stage, task__kind=Task.Kind.NORMAL)
        new = labels.filter(updated_at__gt=last).count() if last else labels.count()
        if new >= max(spec.retrain_every, 1):
            due.append((spec.pk, "labels"))
        elif new and spec.retrain_hours and last and (now - last).total_seconds() >= spec.retrain_hours * 3600:
            due.append((spec.pk, "schedule"))
    return due


def execute_run(*, run_id: int) -> TrainingRun | None:
    """Do a queued run (the Celery task's body). Idempotent: a run that is done, superseded or
    cancelled is left alone; a run found "running" is the redelivery of a worker that died, and starts
    over. Raises whatever the data raises, after marking the run failed."""
    claimed = TrainingRun.objects.filter(pk=run_id, status__in=[TrainingRun.Status.QUEUED,
                                                                TrainingRun.Status.RUNNING])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if not claimed.update(status=TrainingRun.Status.RUNNING, started_at=timezone.now(), progress=0.0, device=device,
                          error=""):
        return TrainingRun.objects.filter(pk=run_id).first()
    run = TrainingRun.objects.select_related("spec__stage__project").get(pk=run_id)
    reporter = _Reporter(run)
    try:
        if run.cancel_requested:
            raise learning.Cancelled
        work = {TrainingRun.Kind.TRAIN: _train, TrainingRun.Kind.PRETRAIN: _pretrain,
                TrainingRun.Kind.SCORE: _score}[run.kind]
        work(run, reporter, device)
    except learning.Cancelled:
        TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.CANCELLED, finished_at=timezone.now())
    except Exception as error:
        TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.FAILED, error=repr(error)[:2000],
                                                     finished_at=timezone.now())
        raise
    run.refresh_from_db()
    return run


class _Reporter:
    """Progress to the run's row at most once a second, and the cancel flag read back then."""

    def __init__(self, run: TrainingRun) -> None:
        self.run, self.last, self.cancelled = run, 0.0, False

    def __call__(self, share: float, what: str) -> None:
        if time.monotonic() - self.last < PROGRESS_EVERY_SECONDS and share < 1.0:
            return
        self.last = time.monotonic()
        TrainingRun.objects.filter(pk=self.run.pk).update(progress=round(min(share, 1.0), 4), stage_of_work=what)
        self.cancelled = TrainingRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists()

    def should_stop(self) -> bool:
        return self.cancelled


@dataclass
class _Images:
    items: list[int]
    tensor: torch.Tensor


def _load_images(spec: ModelSpec, items: list[int], frames: list[tuple[str, int]] | None, reporter: _Reporter,
                 what: str) -> _Images:
    size = learning.NetworkSpec.from_json(spec.network).size
    by_id = Item.objects.in_bulk(items)
    arrays = []
    for position, item_id in enumerate(items):
        sop, frame = frames[position] if frames else ("", 0)
        arrays.append(data.model_input(by_id[item_id], size, sop, frame))
        if reporter.should_stop():
            raise learning.Cancelled
        reporter(0.0, f"reading images ({what}, {position + 1}/{len(items)})")
    return _Images(items, torch.from_numpy(np.stack(arrays)) if arrays else torch.zeros(0, 1, size, size))


def _starting_model(spec: ModelSpec) -> tuple[torch.nn.Module, learning.NetworkSpec, ModelVersion | None, bool]:
    """The network with the weights it starts from: the project's latest pretrained encoder, else
    the chosen version of another model or project, else an uploaded checkpoint, else random.
    Returns (model, network spec, parent version, whether its encoder is pretrained)."""
    network = learning.NetworkSpec.from_json(spec.network)
    model = learning.build_network(network)
    encoder = spec.versions.filter(kind__in=["pretrain", "upload"]).order_by("-number").first() or spec.start_from
    if encoder is not None:
        _, _, state = _load_version_state(encoder)
        learning.transfer_weights(model, state)
        return model, network, encoder, True
    if spec.checkpoint:
        with blobs.open_whole(spec.checkpoint) as file:
            learning.transfer_weights(model, torch.load(file, map_location="cpu", weights_only=True))
        return model, network, None, True
    return model, network, None, False


def _load_version_state(version: ModelVersion) -> tuple[torch.nn.Module, learning.NetworkSpec, dict]:
    model, network = load_version(version)
    return model, network, model.state_dict()


class ArtifactChanged(ValueError):
    """A version's stored weights are missing or no longer what was recorded (size or sha256)."""


def load_version(version: ModelVersion) -> tuple[torch.nn.Module, learning.NetworkSpec]:
    """The version's network with its weights, checked against the recorded size and sha256 first.
    Raises ArtifactChanged."""
    try:
        file = blobs.open_whole(version.artifact)
    except FileNotFoundError as error:
        raise ArtifactChanged(f"the weights of version {version.number} are missing ({version.artifact})") from error
    with file:
        digest, size = hashlib.sha256(), 0
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
        if (size, digest.hexdigest()) != (version.size, version.sha256):
            raise ArtifactChanged(f"the weights of version {version.number} no longer match their recorded "
                                  "size and sha256")
        file.seek(0)
        model, network, _ = learning.load_checkpoint(file)
    return model, network


def _store_checkpoint(relative: str, model: torch.nn.Module, network: learning.NetworkSpec, **extra
                      ) -> tuple[int, str]:
    """Store the weights under `relative`, whole or not at all. Returns (bytes, sha256)."""
    data = learning.checkpoint_bytes(model, network, **extra)
    size, _ = blobs.write_atomically(relative, lambda file: file.write(data), flush_to_disk=True)
    return size, hashlib.sha256(data).hexdigest()


def _new_version_path(spec: ModelSpec, number: int) -> str:
    return f"models/{spec.project.slug}/{spec.pk}/v{number}.pt"


def _train(run: TrainingRun, reporter: _Reporter, device: str) -> None:
    spec = run.spec
    gathered = data.gather(spec)
    if not len(gathered.train):
        raise ValueError(f"no labeled items in stage {spec.stage.name!r} for field {spec.field!r} yet")
    model, network, parent, pretrained = _starting_model(spec)
    images = _load_images(spec, gathered.train.items, gathered.train.frames, reporter, "labeled")
    targets, weights = _targets(spec, gathered.train, network)
    layers = spec.train_layers if spec.train_layers != "auto" else (
        "head" if pretrained and len(gathered.train) < AUTO_HEAD_BELOW else "all")
    config = learning.TrainConfig(epochs=spec.epochs, train_layers=layers, seed=run.pk, device=device,
                                  batch_size=512 if layers == "head" else 32,
                                  learning_rate=1e-2 if layers == "head" else 2e-3,
                                  weight_decay=1e-3 if layers == "head" else 1e-4)
    history = learning.train(model, images.tensor, targets, weights, config, task=spec.task,
                             progress=lambda share, what: reporter(0.1 + 0.7 * share, what),
                             should_stop=reporter.should_stop)
    metrics = {**_validate(spec, model, gathered.validation, network, reporter), "train_layers": layers}
    reporter(0.85, "scoring the items waiting")
    pool = _load_images(spec, gathered.pool, None, reporter, "waiting")
    _publish(run, model, network, parent=parent, kind="train", history=history, metrics=metrics,
             labels_used=len(gathered.train), scored=_score_pool(spec, model, pool, gathered))


def _targets(spec: ModelSpec, examples: data.Examples, network: learning.NetworkSpec
             ) -> tuple[torch.Tensor, torch.Tensor]:
    weights = torch.tensor(examples.weights, dtype=torch.float32)
    if spec.task == ModelSpec.Task.SEGMENTATION:
        items = Item.objects.in_bulk(examples.items)
        masks = [data.segmentation_target(items[item], target, network.size)
                 for item, target in zip(examples.items, examples.targets, strict=True)]
        return torch.from_numpy(np.stack(masks)), weights
    return torch.from_numpy(np.stack(examples.targets).astype(np.float32)), weights


def _validate(spec: ModelSpec, model, examples: data.Examples, network: learning.NetworkSpec,
              reporter: _Reporter) -> dict:
    """The version's figures on the held-out expert labels (none yet: n = 0)."""
    if not len(examples):
        return {"n": 0}
    images = _load_images(spec, examples.items, examples.frames, reporter, "validation")
    outputs = learning.predict(model, images.tensor, task=spec.task)
    if spec.task == ModelSpec.Task.CLASSIFICATION:
        return learning.classification_metrics(outputs.probabilities, np.argmax(np.stack(examples.targets), axis=1))
    if spec.task == ModelSpec.Task.REGRESSION:
        return learning.regression_metrics(outputs.probabilities, np.stack(examples.targets))
    masks, _ = _targets(spec, examples, network)
    return learning.segmentation_metrics(outputs.probabilities, masks.numpy())


@dataclass
class _Scored:
    items: list[int]
    values: list
    probabilities: list[float | None]
    distributions: list[dict]
    uncertainty: np.ndarray
    priorities: np.ndarray


def _score_pool(spec: ModelSpec, model, pool: _Images, gathered: data.TrainingData) -> _Scored:
    """What the model says of each waiting item, how unsure it is, and the priorities the model's
    strategy gives (the chosen batch first)."""
    if not pool.items:
        return _Scored([], [], [], [], np.zeros(0), np.zeros(0))
    rng = np.random.default_rng(len(gathered.train))
    if spec.task == ModelSpec.Task.SEGMENTATION:
        outputs = learning.predict(model, pool.tensor, task="segmentation")
        uncertainty = pixel_entropy(outputs.probabilities) if spec.strategy != "random" else rng.random(len(pool.items))
        batch = list(np.argsort(-uncertainty, kind="stable")[:spec.batch_size])
        items = Item.objects.in_bulk(pool.items)
        values = [_mask_value(items[item], maps) for item, maps in zip(pool.items, outputs.probabilities, strict=True)]
        certainty = [float(np.maximum(maps[1], 1 - maps[1]).mean()) for maps in outputs.probabilities]
        return _Scored(pool.items, values, certainty, [{} for _ in pool.items], uncertainty,
                       priorities_for(batch, uncertainty, np.zeros(0, dtype=np.int64)))
    mc = MC_SAMPLES if spec.strategy == "bald" else 0
    outputs = learning.predict(model, pool.tensor, task=spec.task, mc_samples=mc)
    if spec.task == ModelSpec.Task.REGRESSION:
        values = [round(float(value), 4) for value in outputs.probabilities[:, 0]]
        spread = outputs.probabilities[:, 0] * 0.0
        return _Scored(pool.items, values, [None] * len(values), [{} for _ in values], spread,
                       priorities_for([], spread, np.zeros(0, dtype=np.int64)))
    selection = select_batch(spec.strategy, n_items=len(pool.items), labeled=[], batch_size=spec.batch_size, rng=rng,
                             probabilities=outputs.probabilities, mc_probabilities=outputs.mc_probabilities,
                             embeddings=outputs.embeddings, n_classes=len(spec.labels),
                             labels_so_far=len(gathered.train))
    best = outputs.probabilities.argmax(axis=1)
    return _Scored(pool.items, [spec.labels[index] for index in best],
                   [float(outputs.probabilities[row, index]) for row, index in enumerate(best)],
                   [dict(zip(spec.labels, map(float, row), strict=True)) for row in outputs.probabilities],
                   entropy(outputs.probabilities), selection.priorities)


def _mask_value(item: Item, maps: np.ndarray) -> dict:
    """A segmentation as the brush field's answer: the foreground mask back on the image's grid."""
    pixels, header = data.item_frame(item)
    rows, columns = pixels.shape[:2]
    foreground = torch.nn.functional.interpolate(torch.from_numpy(maps[1][None, None]), size=(rows, columns),
                                                 mode="bilinear", align_corners=False)[0, 0].numpy() > 0.5
    return {"frame": (int(header.get("NumberOfFrames", 1) or 1) + 1) // 2, "rows": rows, "columns": columns,
            "rle": encode_rle(foreground), "instance": str(header.SOPInstanceUID)}


# One statement per 10,000 tasks: bulk_update's CASE per row costs seconds a thousand rows.
UPDATE_PRIORITIES_SQL = """
UPDATE labeling_task t SET priority = v.priority
FROM unnest(%s::bigint[], %s::float8[]) AS v(item_id, priority)
WHERE t.item_id = v.item_id AND t.stage_id = %s AND t.kind = 'normal' AND t.state = 'open'
"""


def _publish(run: TrainingRun, model, network: learning.NetworkSpec, *, parent, kind: str, history: list,
             metrics: dict, labels_used: int, scored: _Scored | None) -> ModelVersion:
    """Write the weights (a file renamed into place), then in one transaction: the version, its
    predictions (older versions' dropped), the stage's task priorities and the run's end."""
    spec = run.spec
    number = (spec.versions.aggregate(top=Max("number"))["top"] or 0) + 1
    relative = _new_version_path(spec, number)
    size, sha256 = _store_checkpoint(relative, model, network, run=run.pk, kind=kind)
    with transaction.atomic():
        version = ModelVersion.objects.create(spec=spec, number=number, kind=kind, run=run, parent=parent,
                                              artifact=relative, sha256=sha256, size=size, labels_used=labels_used,
                                              metrics=metrics, history=[round(loss, 6) for loss in history])
        if scored is not None:
            _write_scores(spec, version, scored)
        TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.SUCCEEDED, progress=1.0,
                                                     finished_at=timezone.now(), version=version,
                                                     labels_used=labels_used, stage_of_work="done")
    return version


def _write_scores(spec: ModelSpec, version: ModelVersion, scored: _Scored) -> None:
    """The version's predictions (replacing older versions') and the stage's task priorities: one
    UPDATE per 10,000 tasks. Call inside the transaction that publishes the version."""
    Prediction.objects.filter(version__spec=spec).delete()
    Prediction.objects.bulk_create([
        Prediction(version=version, item_id=item, value=value, probability=probability, probabilities=distribution,
                   uncertainty=float(uncertainty))
        for item, value, probability, distribution, uncertainty in zip(
            scored.items, scored.values, scored.probabilities, scored.distributions, scored.uncertainty,
            strict=True)], batch_size=2000)
    for start in range(0, len(scored.items), 10_000):
        with connection.cursor() as cursor:
            cursor.execute(UPDATE_PRIORITIES_SQL, [scored.items[start:start + 10_000],
                                                   [float(value) for value in scored.priorities[start:start + 10_000]],
                                                   spec.stage_id])


def _pretrain(run: TrainingRun, reporter: _Reporter, device: str) -> None:
    """Self-supervised pretraining on every image of the stage's items, labeled or not."""
    spec = run.spec
    network = learning.NetworkSpec.from_json(spec.network)
    if network.task == ModelSpec.Task.SEGMENTATION:
        raise ValueError("self-supervised pretraining is for classification and regression models")
    items = list(Task.objects.filter(stage=spec.stage).values_list("item_id", flat=True).order_by("item_id"))
    images = _load_images(spec, items, None, reporter, "all")
    model = learning.build_network(network)
    config = learning.PretrainConfig(epochs=settings.TRAINING_PRETRAIN_EPOCHS, seed=run.pk, device=device)
    history = learning.pretrain_contrastive(model, images.tensor, config,
                                            progress=lambda share, what: reporter(0.1 + 0.85 * share, what),
                                            should_stop=reporter.should_stop)
    _publish(run, model, network, parent=None, kind="pretrain", history=history, metrics={"images": len(items)},
             labels_used=0, scored=None)


def _score(run: TrainingRun, reporter: _Reporter, device: str) -> None:
    """Rescore the waiting items with the version in force (after a change of strategy, say)."""
    spec = run.spec
    version = current_version(spec)
    if version is None:
        raise ValueError("no trained version to score with yet")
    model, network = load_version(version)
    gathered = data.gather(spec)
    pool = _load_images(spec, gathered.pool, None, reporter, "waiting")
    scored = _score_pool(spec, model, pool, gathered)
    with transaction.atomic():
        _write_scores(spec, version, scored)
        TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.SUCCEEDED, progress=1.0,
                                                     finished_at=timezone.now(), version=version, stage_of_work="done")


def current_version(spec: ModelSpec) -> ModelVersion | None:
    """The trained version in force: the newest of a run that succeeded."""
    return spec.versions.filter(kind="train").order_by("-number").first()


MAX_CHECKPOINT_BYTES = 512 * 1024 * 1024


def upload_checkpoint(*, spec: ModelSpec, data: bytes, filename: str) -> ModelVersion:
    """Start `spec` from uploaded weights: a PyTorch state dict (.pt/.pth; a MONAI bundle's
    models/model.pt is one), plain or under "state_dict"/"model". Weights whose names and shapes fit
    the network are taken; the result is stored as an "upload" version the next training starts
    from. Raises ModelDesignError for a file that is not such weights or fits nothing."""
    import io

    if len(data) > MAX_CHECKPOINT_BYTES:
        raise ModelDesignError("file", f"{filename} is over {MAX_CHECKPOINT_BYTES // 2**20} MiB")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - pickle, zip and torch errors all mean "not a checkpoint"
        raise ModelDesignError("file", f"{filename} is not a PyTorch state dict") from None
    if not isinstance(state, dict):
        raise ModelDesignError("file", f"{filename} holds no state dict")
    network = learning.NetworkSpec.from_json(spec.network)
    model = learning.build_network(network)
    try:
        copied = learning.transfer_weights(model, state)
    except ValueError as error:
        raise ModelDesignError("file", f"{filename}: {error}") from None
    number = (spec.versions.aggregate(top=Max("number"))["top"] or 0) + 1
    relative = _new_version_path(spec, number)
    size, sha256 = _store_checkpoint(relative, model, network, source=filename, copied=len(copied))
    return ModelVersion.objects.create(spec=spec, number=number, kind="upload", artifact=relative, sha256=sha256,
                                       size=size, metrics={"source": filename, "tensors_taken": len(copied)})
