"""Exports: ask for one (the project's next version), build its files (in a Celery worker), and
open a published file checked against its recorded checksum. See exports/EXPORTS.md."""
from __future__ import annotations

import importlib.metadata
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import BinaryIO

import pydicom
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from pydicom import Dataset
from pydicom.errors import InvalidDicomError

from cardiocrowd import blobs
from cardiocrowd.accounts.models import Project
from cardiocrowd.imaging.models import Instance
from cardiocrowd.imaging.storage import instance_name
from labeling import audit

from . import consistency, storage, tables
from .dicom_common import Producer, complete_header
from .errors import ExportError
from .measurements import measurement_report
from .models import Export, ExportFile
from .segmentation import build_segmentation, region_labels
from .selectors import export_document

logger = logging.getLogger(__name__)

# First key of the PostgreSQL advisory locks that let one worker at a time build an export.
BUILD_LOCK_NAMESPACE = 0x45585054  # "EXPT"
CONTENT_TYPES = {ExportFile.Kind.CSV: "text/csv", ExportFile.Kind.JSON: "application/json",
                 ExportFile.Kind.SEG: "application/dicom", ExportFile.Kind.SR: "application/dicom"}


class ExportInconsistent(ExportError):
    """An accepted label is blank or contradicts its own soft labels (exports/consistency.py):
    the export is refused whole rather than published with labels that say two things."""


class ExportBusy(Exception):
    """Another worker holds the export's build lock (a redelivered message while the first run
    goes on, or a dead worker whose database session has not ended yet): try again later."""


class ExportFileChanged(Exception):
    """A published file is missing or no longer what was recorded (its size or sha256)."""


@transaction.atomic
def request_export(*, project: Project, user: AbstractBaseUser) -> Export:
    """Record the project's next export version (its items: those decided by now) and queue its
    build once committed."""
    from .tasks import build_export_task

    # Lock the project row: two admins asking at once get consecutive versions, not a clash.
    Project.objects.select_for_update().filter(pk=project.pk).first()
    latest = Export.objects.filter(project=project).aggregate(latest=Max("version"))["latest"] or 0
    export = Export.objects.create(project=project, version=latest + 1, requested_by=user,
                                   folder=storage.export_folder(project.slug, latest + 1))
    audit.record("export.requested", project_id=project.pk, actor_id=user.pk, export=export.pk,
                 version=export.version)
    transaction.on_commit(lambda: build_export_task.delay(export.pk))
    return export


def build_export(*, export_id: int) -> Export | None:
    """Check the export's labels are consistent (exports/consistency.py), write its files into a
    temporary folder, publish it whole, then record the files and mark the export ready. Safe to
    run twice: a ready export is left as it is (immutable), anything else is built afresh. A failed
    build (an inconsistent one included) is marked failed with its reason and leaves no files.
    Raises ExportBusy while another worker holds the export; re-raises an unexpected error after
    recording it (an ExportError, bad data, is only recorded)."""
    with _build_lock(export_id) as acquired:
        if not acquired:
            raise ExportBusy(export_id)
        export = Export.objects.select_related("project", "requested_by").filter(pk=export_id).first()
        if export is None or export.status == Export.Status.READY:
            return export
        export.status, export.started_at, export.finished_at, export.error = (
            Export.Status.BUILDING, timezone.now(), None, "")
        export.save(update_fields=["status", "started_at", "finished_at", "error"])
        try:
            storage.remove_leftovers(export.folder, including_published=True)
            build = storage.new_build(export.folder)
            document = export_document(export)
            found = consistency.problems(document)
            if found:  # checked before a single file is written
                raise ExportInconsistent(consistency.describe(found))
            written = _write_files(export, document, build)
            build.publish()
            _record_success(export, document, written)
        except Exception as error:
            storage.remove_leftovers(export.folder, including_published=True)
            _record_failure(export, error)
            if isinstance(error, ExportError):
                return export
            raise
        return export


@contextmanager
def _build_lock(export_id: int) -> Iterator[bool]:
    """A session-level advisory lock on the export, so one worker at a time builds it; a worker
    that dies releases it when its database session ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [BUILD_LOCK_NAMESPACE, export_id])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [BUILD_LOCK_NAMESPACE, export_id])


def _write_files(export: Export, document: dict, build: storage.Build) -> list[tuple[str, storage.WrittenFile]]:
    """Labels and answers as CSV and JSON, one SEG per labeled source image, one SR per item with
    measurements."""
    written = [(ExportFile.Kind.CSV, build.write_file("labels.csv", tables.csv_bytes(document))),
               (ExportFile.Kind.JSON, build.write_file("labels.json", tables.json_bytes(document))),
               (ExportFile.Kind.CSV, build.write_file("answers.csv", tables.answers_csv_bytes(document))),
               (ExportFile.Kind.JSON, build.write_file("answers.json", tables.answers_json_bytes(document)))]
    producer = Producer(uid_seed=f"cardiocrowd-export:{export.pk}", software_version=_software_version())
    source = _source_reader(export.project_id)
    segments = {}
    with warnings.catch_warnings():
        # De-identified names are one-component pseudonyms, which highdicom warns about on every copy.
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name.*")
        for number, (instance_uid, labels) in enumerate(region_labels(document).items(), start=1):
            try:
                header = source(instance_uid)
            except ExportError as error:
                raise ExportError(f"item {labels[0].item}, field {labels[0].key}: {error}") from None
            seg, references = build_segmentation(header, labels, producer, instance_number=number)
            written.append((ExportFile.Kind.SEG, build.write_file(f"seg-{instance_uid}.dcm", _encoded(seg))))
            segments.update({(label.item, label.key): reference for label, reference in zip(labels, references,
                                                                                               strict=True)})
        definitions = {(schema["name"], schema["version"]): schema["definition"] for schema in document["schemas"]}
        number = 0
        for record in document["items"]:
            schema = record["provenance"]["schema"]
            if not record["label"] or schema is None:
                continue
            report = measurement_report(record, definitions[(schema["name"], schema["version"])], source=source,
                                        item_image=lambda record=record: _first_image_uid(export.project_id, record),
                                        segments=segments, producer=producer, instance_number=number + 1)
            if report is not None:
                number += 1
                written.append((ExportFile.Kind.SR, build.write_file(f"sr-item-{record['item']}.dcm",
                                                                      _encoded(report))))
    return written


def _source_reader(project_id: int) -> Callable[[str], Dataset]:
    """Reads the header of a de-identified instance of the project from its stored file, once per
    build. Raises ExportError when the image is unknown or its file missing or unreadable."""

    @cache
    def read(sop_instance_uid: str) -> Dataset:
        instance = Instance.objects.filter(project_id=project_id, sop_instance_uid=sop_instance_uid).first()
        if instance is None:
            raise ExportError(f"image {sop_instance_uid} is not in this project")
        try:
            with blobs.open_reader(instance_name(instance.relative_path)) as file:
                return complete_header(pydicom.dcmread(file, stop_before_pixels=True))
        except FileNotFoundError:
            raise ExportError(f"image {sop_instance_uid} has no stored file (expected at {instance.relative_path})"
                              ) from None
        except (InvalidDicomError, OSError, ValueError) as error:
            raise ExportError(f"image {sop_instance_uid}: its stored file cannot be read ({error})") from error

    return read


def _first_image_uid(project_id: int, record: dict) -> str | None:
    """An image of the item (its own, or the first of its series or study), for an SR whose
    measurements name none."""
    if record["instance_uid"]:
        return record["instance_uid"]
    instances = Instance.objects.filter(project_id=project_id, series__study__study_uid=record["study_uid"])
    if record["series_uid"]:
        instances = instances.filter(series__series_uid=record["series_uid"])
    return instances.order_by("series_id", "instance_number", "pk").values_list("sop_instance_uid", flat=True).first()


def _encoded(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@cache
def _software_version() -> str:
    try:
        return importlib.metadata.version("cardiocrowd")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _record_failure(export: Export, error: Exception) -> None:
    reason = str(error) if isinstance(error, ExportError) else f"internal error: {type(error).__name__}: {error}"
    logger.warning("export %s of project %s failed: %s", export.version, export.project.slug, reason)
    with transaction.atomic():
        ExportFile.objects.filter(export=export).delete()
        Export.objects.filter(pk=export.pk).update(status=Export.Status.FAILED, error=reason,
                                                   finished_at=timezone.now())
        audit.record("export.failed", project_id=export.project_id, export=export.pk, version=export.version,
                     reason=reason)
    export.refresh_from_db()


@transaction.atomic
def _record_success(export: Export, document: dict, written: list[tuple[str, storage.WrittenFile]]) -> None:
    ExportFile.objects.filter(export=export).delete()  # rows of an earlier run that died before marking it ready
    ExportFile.objects.bulk_create([
        ExportFile(export=export, name=file.name, kind=kind, content_type=CONTENT_TYPES[kind], size=file.size,
                   sha256=file.sha256) for kind, file in written])
    rejected = sum(1 for record in document["items"] if record["rejected"])
    export.status, export.finished_at = Export.Status.READY, timezone.now()
    export.item_count, export.rejected_count = len(document["items"]), rejected
    export.accepted_count = len(document["items"]) - rejected
    export.save(update_fields=["status", "finished_at", "item_count", "accepted_count", "rejected_count"])
    audit.record("export.built", project_id=export.project_id, export=export.pk, version=export.version,
                 items=export.item_count, files=len(written))


def open_export_file(export_file: ExportFile) -> BinaryIO:
    """The published file, opened for reading, after checking it is still the one recorded.
    Raises ExportFileChanged."""
    try:
        handle = storage.open_file(export_file.export.folder, export_file.name)
    except OSError as error:
        raise ExportFileChanged(f"{export_file.name} is missing ({error.strerror})") from error
    # Checked through the handle that is then served, so what is checked is what is sent.
    size, digest = storage.size_and_sha256(handle)
    if (size, digest) != (export_file.size, export_file.sha256):
        handle.close()
        raise ExportFileChanged(f"{export_file.name} no longer matches its recorded size and sha256")
    handle.seek(0)
    return handle
