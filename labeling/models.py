"""Items to label and the assignments that lease them to workers.

Which images a crowd worker may see follows from the assignments it holds. Label schemas are
versioned here; stages, answers and consensus build on these models (issue 3).
"""
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from cardiocrowd.accounts.models import Project
from cardiocrowd.imaging.models import Instance, Series, Study


class Item(models.Model):
    """One unit of labeling work: a study, a series, or one instance (optionally a frame range)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="items")
    series = models.ForeignKey(Series, null=True, blank=True, on_delete=models.CASCADE, related_name="items")
    instance = models.ForeignKey(Instance, null=True, blank=True, on_delete=models.CASCADE, related_name="items")
    first_frame = models.IntegerField(null=True, blank=True)
    last_frame = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class Stage(models.Model):
    """One step of a project's pipeline: who answers (crowd or expert), against which schema
    version, how many independent answers each item gets, and how long a lease lasts."""

    class Audience(models.TextChoices):
        CROWD = "crowd"
        EXPERT = "expert"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField()
    audience = models.CharField(max_length=16, choices=Audience.choices, default=Audience.CROWD)
    schema = models.ForeignKey("LabelSchema", on_delete=models.PROTECT, related_name="stages")
    redundancy = models.PositiveIntegerField(default=3)  # independent answers per item (k)
    lease_seconds = models.PositiveIntegerField(default=600)
    routing = models.JSONField(default=list, blank=True)  # rules, see labeling/routing.py

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "position"], name="unique_stage_position")]


class Task(models.Model):
    """An item waiting in a stage. `open_slots` counts the answers still to hand out
    (redundancy less leased and answered ones), so next-task reads one partial index."""

    class State(models.TextChoices):
        OPEN = "open"
        COMPLETE = "complete"

    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="tasks")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="tasks")
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    priority = models.FloatField(default=0.0)  # higher first; active learning writes it, FIFO until then
    open_slots = models.PositiveIntegerField()
    answer_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stage", "item"], name="one_task_per_item_and_stage")]
        indexes = [models.Index(fields=["stage", "-priority", "id"], name="task_to_serve",
                                condition=Q(state="open", open_slots__gt=0))]


class AssignmentQuerySet(models.QuerySet):
    def held_by(self, worker) -> "AssignmentQuerySet":
        """Open assignments whose lease has not run out."""
        return self.filter(worker=worker, state=Assignment.State.OPEN).filter(
            Q(lease_expires_at__isnull=True) | Q(lease_expires_at__gt=timezone.now())
        )


class Assignment(models.Model):
    """A task leased to one worker. One per (task, worker): nobody answers an item twice in a stage."""

    class State(models.TextChoices):
        OPEN = "open"
        SUBMITTED = "submitted"
        EXPIRED = "expired"
        RELEASED = "released"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="assignments")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")  # = task.item
    worker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    leased_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "worker"], name="one_assignment_per_worker_and_task")]
        indexes = [models.Index(fields=["worker", "state"]),
                   models.Index(fields=["lease_expires_at"], name="open_lease_expiry", condition=Q(state="open"))]


class Answer(models.Model):
    """A worker's answer (or reasoned skip), validated against the schema version it was given."""

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="answer")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="answers")
    worker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="answers")
    schema = models.ForeignKey("LabelSchema", on_delete=models.PROTECT, related_name="answers")
    value = models.JSONField(default=dict)
    skip_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class LabelSchema(models.Model):
    """One version of a named label schema. A change is a new version; old versions stay, so an
    answer always names the exact schema it was given against (who and when are recorded here)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="label_schemas")
    name = models.SlugField(max_length=64)
    version = models.PositiveIntegerField()
    definition = models.JSONField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name", "version"], name="unique_schema_version")]


class Consensus(models.Model):
    """The current consensus of a task's answers: per field value and share, and a confidence.
    Rewritten whole on every aggregation (idempotent), so a retried aggregation changes nothing."""

    task = models.OneToOneField(Task, on_delete=models.CASCADE, related_name="consensus")
    method = models.CharField(max_length=32)
    fields = models.JSONField(default=dict)  # {key: {"value", "share", "votes"}}
    confidence = models.FloatField()
    answer_count = models.PositiveIntegerField()
    updated_at = models.DateTimeField(auto_now=True)


class RoutingDecision(models.Model):
    """Where an item went when its task in a stage completed, and which rule sent it (the audit)."""

    task = models.OneToOneField(Task, on_delete=models.CASCADE, related_name="routing_decision")
    action = models.CharField(max_length=16)  # accept | send
    target = models.ForeignKey(Stage, null=True, on_delete=models.SET_NULL, related_name="+")
    rule = models.IntegerField(null=True)  # index in the stage's rules; None: no rule matched
    decided_at = models.DateTimeField(auto_now=True)
