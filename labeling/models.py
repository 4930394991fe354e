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


class AssignmentQuerySet(models.QuerySet):
    def held_by(self, worker) -> "AssignmentQuerySet":
        """Open assignments whose lease has not run out."""
        return self.filter(worker=worker, state=Assignment.State.OPEN).filter(
            Q(lease_expires_at__isnull=True) | Q(lease_expires_at__gt=timezone.now())
        )


class Assignment(models.Model):
    class State(models.TextChoices):
        OPEN = "open"
        SUBMITTED = "submitted"
        EXPIRED = "expired"
        RELEASED = "released"

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    worker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    leased_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["worker", "state"])]


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
