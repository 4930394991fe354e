"""Models that learn from a project's labels: what each model is (ModelSpec), every run that trains,
pretrains or rescores it (TrainingRun), the versions it produced (ModelVersion) and what the version
in force says of each item (Prediction). Runs are rows so a restarted worker can see what is done."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from cardiocrowd.accounts.models import Project


class ModelSpec(models.Model):
    """A model for one label field of one label stage, and how active learning uses it."""

    class Task(models.TextChoices):
        CLASSIFICATION = "classification"  # a single choice or yes/no field, of an image or a cine
        SEGMENTATION = "segmentation"  # a contour, freehand or brush field on one frame
        REGRESSION = "regression"  # a number field

    class Strategy(models.TextChoices):
        RANDOM = "random"
        ENTROPY = "entropy"
        MARGIN = "margin"
        BALD = "bald"  # Monte-Carlo dropout
        CORESET = "coreset"  # k-center on the model's embeddings: a diverse batch
        TYPICLUST = "typiclust"
        TCM = "tcm"  # TypiClust while labels are few, then margin
        PIXEL_ENTROPY = "pixel_entropy"  # segmentation
        TTA_VARIANCE = "tta_variance"  # segmentation

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_specs")
    stage = models.ForeignKey("labeling.Stage", on_delete=models.CASCADE, related_name="model_specs")
    field = models.CharField(max_length=64)  # the schema field the model predicts
    name = models.CharField(max_length=100)
    task = models.CharField(max_length=16, choices=Task.choices)
    network = models.JSONField(default=dict)  # training.learning.NetworkSpec as JSON (classes, size, channels)
    labels = models.JSONField(default=list)  # class values, in output order (classification, segmentation)
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.TCM)
    batch_size = models.PositiveIntegerField(default=20)  # items the strategy puts first after each run
    retrain_every = models.PositiveIntegerField(default=50)  # new consensus labels that trigger a retrain
    retrain_hours = models.FloatField(default=0)  # also retrain on this schedule when labels changed (0: off)
    epochs = models.PositiveIntegerField(default=40)
    train_layers = models.CharField(max_length=8, default="auto")  # auto | all | head
    # Where its weights start: another project's version, an uploaded checkpoint, or nothing (random
    # initialization, or the project's own self-supervised pretraining once that has run).
    start_from = models.ForeignKey("ModelVersion", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    checkpoint = models.CharField(max_length=300, blank=True)  # uploaded weights, relative to the data folder
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stage", "field"], name="one_model_per_stage_field")]


class TrainingRun(models.Model):
    """One run of a model: train (fit on the labels, score the pool, rewrite priorities), pretrain
    (self-supervised, on the project's unlabeled images) or score (rescore with the version in force).
    At most one queued and one running train per model: a newer trigger supersedes a queued one."""

    class Kind(models.TextChoices):
        TRAIN = "train"
        PRETRAIN = "pretrain"
        SCORE = "score"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"
        SUPERSEDED = "superseded"

    spec = models.ForeignKey(ModelSpec, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TRAIN)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=32)  # manual, labels, schedule
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress = models.FloatField(default=0.0)  # 0..1
    stage_of_work = models.CharField(max_length=64, blank=True)  # what it is doing now
    cancel_requested = models.BooleanField(default=False)
    device = models.CharField(max_length=16, blank=True)
    labels_used = models.PositiveIntegerField(default=0)
    version = models.ForeignKey("ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["spec", "status"])]
        constraints = [models.UniqueConstraint(fields=["spec"], condition=Q(status="running"),
                                               name="one_running_run_per_model")]


class ModelVersion(models.Model):
    """The weights a run produced, immutable, with their metrics on the held-out expert labels."""

    spec = models.ForeignKey(ModelSpec, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, default="train")  # train, pretrain (an encoder), upload
    run = models.ForeignKey(TrainingRun, null=True, on_delete=models.SET_NULL, related_name="+")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    artifact = models.CharField(max_length=300)  # relative to CARDIOCROWD_DATA_DIR
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(default=0)
    labels_used = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict)  # on the validation set: accuracy, auc, dice, mae, n
    history = models.JSONField(default=list)  # loss per epoch
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["spec", "number"], name="unique_version_number")]


class Prediction(models.Model):
    """What a version says of one item of the stage: its answer for the field (the pre-label), the
    probability of that answer, and its uncertainty under the model's strategy."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="predictions")
    item = models.ForeignKey("labeling.Item", on_delete=models.CASCADE, related_name="predictions")
    value = models.JSONField()  # the field's answer as the schema takes it (a class, a number, a mask)
    probability = models.FloatField(null=True)  # of that class (classification), of the mask (segmentation)
    probabilities = models.JSONField(default=dict)  # {class: probability}
    uncertainty = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "item"], name="one_prediction_per_item")]
