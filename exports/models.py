"""Exports: versioned, immutable snapshots of a project's decided items (accepted, and rejected
flagged as such) with their provenance, as files (CSV, JSON, DICOM SEG, DICOM SR) under
CARDIOCROWD_DATA_DIR/exports/<project>/<version>/. See exports/EXPORTS.md."""
from django.conf import settings
from django.db import models
from django.utils import timezone

from cardiocrowd.accounts.models import Project


class Export(models.Model):
    """One version of a project's labels. Which items it holds is fixed when it is requested (those
    decided by `requested_at`); once ready its files never change: a new export is a new version."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        BUILDING = "building"
        READY = "ready"
        FAILED = "failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    version = models.PositiveIntegerField()  # 1, 2, … per project
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # Also the cut-off: the export holds the items decided at or before this moment, so a rebuild
    # after a lost worker holds the same items (a decided item is never decided again; its labels
    # are read at build time, and a consensus run may still revise them until the export is ready).
    requested_at = models.DateTimeField(default=timezone.now)
    folder = models.CharField(max_length=200)  # under CARDIOCROWD_DATA_DIR, fixed at request time
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)  # why the build failed
    item_count = models.PositiveIntegerField(default=0)
    accepted_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "version"], name="unique_export_version")]

    def __str__(self) -> str:
        return f"{self.project_id} v{self.version}"


class ExportFile(models.Model):
    """One published file of a ready export, with the checksum every download is checked against."""

    class Kind(models.TextChoices):
        CSV = "csv"
        JSON = "json"
        SEG = "seg"
        SR = "sr"

    export = models.ForeignKey(Export, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=100)  # file name inside the export's folder, never a path
    kind = models.CharField(max_length=8, choices=Kind.choices)
    content_type = models.CharField(max_length=64)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["export", "name"], name="unique_export_file_name")]
