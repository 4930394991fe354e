"""The de-identified image store's index, import jobs, and the admin-only pseudonym map.

Every UID in Study/Series/Instance is a project pseudonym; source identifiers exist only in
SourceMapping, which only project admins can read.
"""
from django.conf import settings
from django.db import models

from cardiocrowd.accounts.models import Project


class Study(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="studies")
    study_uid = models.CharField(max_length=64)
    patient_pseudonym = models.CharField(max_length=64)
    study_date = models.CharField(max_length=8, blank=True)  # shifted or empty, per project policy
    # Study-level DICOM JSON for QIDO-RS (de-identified attributes only).
    attributes = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "study_uid"], name="unique_study_per_project")]


class Series(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_uid = models.CharField(max_length=64)
    modality = models.CharField(max_length=16, blank=True)
    series_number = models.IntegerField(null=True)
    attributes = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "series_uid"], name="unique_series_per_study")]


class InstanceQuerySet(models.QuerySet):
    def available(self) -> "InstanceQuerySet":
        return self.filter(status=Instance.Status.AVAILABLE)


class Instance(models.Model):
    class Status(models.TextChoices):
        AVAILABLE = "available"
        # Burned-in annotation and no mask rule: kept for admin review, never served to the crowd.
        QUARANTINED = "quarantined"

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64)
    sop_class_uid = models.CharField(max_length=64)
    instance_number = models.IntegerField(null=True)
    transfer_syntax_uid = models.CharField(max_length=64)
    rows = models.IntegerField(null=True)
    columns = models.IntegerField(null=True)
    number_of_frames = models.IntegerField(default=0)  # 0: no pixel data
    frame_time_ms = models.FloatField(null=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.AVAILABLE)
    quarantine_reason = models.CharField(max_length=200, blank=True)
    pixels_masked = models.BooleanField(default=False)
    relative_path = models.CharField(max_length=300)  # under CARDIOCROWD_DATA_DIR
    file_size = models.BigIntegerField()
    # Packed frame → byte-range table (see imaging/frames.py) so frame N is one seek.
    frame_index = models.BinaryField(default=b"")
    # DICOM JSON of the de-identified instance, pixel data left out (its BulkDataURI is added per request).
    metadata = models.JSONField(default=dict)
    import_chunk = models.ForeignKey("ImportChunk", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = InstanceQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "sop_instance_uid"], name="unique_instance_per_project")
        ]
        indexes = [models.Index(fields=["series", "instance_number"])]


class SourceMapping(models.Model):
    """Pseudonym → source identifier. Holds PHI: admin-only, never joined into crowd-facing reads."""

    class Kind(models.TextChoices):
        PATIENT = "patient"
        STUDY = "study"
        SERIES = "series"
        INSTANCE = "instance"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="source_mappings")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    pseudonym = models.CharField(max_length=64)
    source_value = models.CharField(max_length=200)
    date_shift_days = models.IntegerField(null=True)  # patients only

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "kind", "pseudonym"], name="unique_pseudonym_per_kind")
        ]


class DicomWebSource(models.Model):
    """A PACS the platform pulls from. Secrets are named here, read from the environment."""

    class Auth(models.TextChoices):
        NONE = "none"
        BASIC = "basic"
        BEARER = "bearer"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dicomweb_sources")
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    auth = models.CharField(max_length=16, choices=Auth.choices, default=Auth.NONE)
    username = models.CharField(max_length=200, blank=True)
    # Name of the environment variable that holds the password (basic) or token (bearer).
    secret_env = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="unique_source_name")]


class ImportJob(models.Model):
    """An import, planned into chunks that workers run in parallel; its progress is their sum."""

    class Kind(models.TextChoices):
        UPLOAD = "upload"
        FOLDER = "folder"
        DICOMWEB = "dicomweb"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # Upload: staging folder; folder: paths; DICOMweb: url or source, study UIDs, query.
    parameters = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    failure_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)


class ImportChunk(models.Model):
    """A slice of a job (some files, or one DICOMweb series) that one worker runs start to end.

    A chunk re-run after a lost worker starts its counts afresh; instances it had already stored
    are found again as its job's own and count as imported, not as duplicates."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="chunks")
    number = models.IntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    parameters = models.JSONField(default=dict)  # {"files": [[path, member, reference]...]} or one series
    total = models.IntegerField(default=0)
    done = models.IntegerField(default=0)
    imported = models.IntegerField(default=0)
    duplicates = models.IntegerField(default=0)
    refused = models.IntegerField(default=0)
    quarantined = models.IntegerField(default=0)
    failure_reason = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="unique_chunk_number")]


class ImportProblem(models.Model):
    """One instance (or file) an import refused, and why."""

    chunk = models.ForeignKey(ImportChunk, on_delete=models.CASCADE, related_name="problems")
    reference = models.CharField(max_length=500)  # file name inside the upload, or a position in a series
    reason = models.CharField(max_length=500)
