"""Ingest: de-identify, store, index. And import jobs, which run ingest over a source."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from pydicom.dataset import Dataset

from cardiocrowd.accounts.models import Project

from . import deid, storage
from .frames import FrameIndexError, build_frame_index
from .models import DicomWebSource, ImportJob, ImportProblem, Instance, Series, SourceMapping, Study
from .sources import (
    Candidate,
    SourceUnavailable,
    dicomweb_client,
    file_candidates,
    iter_dicomweb_series,
    plan_dicomweb,
)
from .validation import InvalidDicom

logger = logging.getLogger(__name__)

PIXEL_DATA_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009}
STUDY_TAGS = ("StudyInstanceUID", "StudyDate", "StudyTime", "PatientName", "PatientID", "PatientSex",
              "PatientAge", "AccessionNumber", "StudyID", "ReferringPhysicianName")
SERIES_TAGS = ("SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDate", "SeriesTime", "BodyPartExamined")


class Outcome(Enum):
    IMPORTED = "imported"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"


class ImportNotAllowed(Exception):
    """The folder lies outside CARDIOCROWD_IMPORT_ROOTS."""


def deid_policy(project: Project) -> deid.DeidPolicy:
    return deid.DeidPolicy(
        secret=project.pseudonym_secret.encode(),
        shift_dates=project.date_policy == Project.DatePolicy.SHIFT,
        retain_patient_characteristics=project.retain_patient_characteristics,
    )


def _subset_json(dataset: Dataset, keywords: tuple[str, ...]) -> dict:
    subset = Dataset()
    for keyword in keywords:
        if keyword in dataset:
            subset[keyword] = dataset[keyword]
    return subset.to_json_dict()


def _metadata_json(dataset: Dataset) -> dict:
    """DICOM JSON of everything but the pixel data, with the transfer syntax as WADO-RS servers give it."""
    without_pixels = Dataset()
    for element in dataset:
        if int(element.tag) not in PIXEL_DATA_TAGS:
            without_pixels.add(element)
    metadata = without_pixels.to_json_dict(bulk_data_threshold=2**31)
    metadata["00020010"] = {"vr": "UI", "Value": [str(dataset.file_meta.TransferSyntaxUID)]}
    return dict(sorted(metadata.items()))


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float_or_none(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def frame_time_ms(dataset: Dataset) -> float | None:
    """Frame Time, or 1000 / Cine Rate, or 1000 / Recommended Display Frame Rate."""
    if (value := _float_or_none(dataset.get("FrameTime"))) is not None:
        return value
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = _float_or_none(dataset.get(keyword))
        if rate:
            return 1000.0 / rate
    return None


def ingest_dataset(*, project: Project, dataset: Dataset, job: ImportJob | None = None) -> Outcome:
    """De-identify, store and index one instance. Raises InvalidDicom, FrameIndexError.

    Idempotent: the instance pseudonym is a keyed hash of the source UID, so a second import of
    the same instance finds the first and stores nothing.
    """
    policy = deid_policy(project)
    sop_uid = deid.pseudonymize_uid(policy.secret, str(dataset.SOPInstanceUID))
    if Instance.objects.filter(project=project, sop_instance_uid=sop_uid).exists():
        return Outcome.DUPLICATE

    result = deid.deidentify(dataset, policy)
    status, quarantine_reason, masked = Instance.Status.AVAILABLE, "", False
    if deid.has_burned_in_annotation(dataset):
        rules = deid.matching_mask_rules(dataset, project.pixel_mask_rules)
        if project.burned_in_policy == Project.BurnedInPolicy.MASK and rules and "PixelData" in dataset:
            deid.mask_pixels(dataset, rules)
            masked = True
        else:
            status, quarantine_reason = Instance.Status.QUARANTINED, "BurnedInAnnotation is YES and no mask rule applies"

    relative = storage.relative_instance_path(project.pk, dataset.StudyInstanceUID, dataset.SeriesInstanceUID, sop_uid)
    path = storage.instance_path(relative)
    file_size = storage.write_atomically(path, lambda file: dataset.save_as(file, enforce_file_format=True))
    try:
        index = build_frame_index(str(path))
        _record_instance(project=project, dataset=dataset, result=result, relative=relative, file_size=file_size,
                         frame_index=index.packed, status=status, quarantine_reason=quarantine_reason,
                         masked=masked, job=job)
    except IntegrityError:
        # Another worker stored the same instance first; its file is byte-identical to ours.
        return Outcome.DUPLICATE
    except BaseException:
        if not Instance.objects.filter(project=project, sop_instance_uid=sop_uid).exists():
            path.unlink(missing_ok=True)
        raise
    return Outcome.QUARANTINED if status == Instance.Status.QUARANTINED else Outcome.IMPORTED


@transaction.atomic
def _record_instance(*, project: Project, dataset: Dataset, result: deid.DeidResult, relative: str,
                     file_size: int, frame_index: bytes, status: str, quarantine_reason: str, masked: bool,
                     job: ImportJob | None) -> Instance:
    study, _ = Study.objects.get_or_create(
        project=project, study_uid=dataset.StudyInstanceUID,
        defaults={"patient_pseudonym": result.patient_pseudonym, "study_date": str(dataset.get("StudyDate", "") or ""),
                  "attributes": _subset_json(dataset, STUDY_TAGS)},
    )
    series, _ = Series.objects.get_or_create(
        study=study, series_uid=dataset.SeriesInstanceUID,
        defaults={"modality": str(dataset.get("Modality", "") or ""),
                  "series_number": _int_or_none(dataset.get("SeriesNumber")),
                  "attributes": _subset_json(dataset, SERIES_TAGS)},
    )
    instance = Instance.objects.create(
        series=series, project=project, sop_instance_uid=dataset.SOPInstanceUID, sop_class_uid=dataset.SOPClassUID,
        instance_number=_int_or_none(dataset.get("InstanceNumber")),
        transfer_syntax_uid=str(dataset.file_meta.TransferSyntaxUID),
        rows=_int_or_none(dataset.get("Rows")), columns=_int_or_none(dataset.get("Columns")),
        number_of_frames=(int(dataset.get("NumberOfFrames") or 1) if "PixelData" in dataset else 0),
        frame_time_ms=frame_time_ms(dataset), status=status, quarantine_reason=quarantine_reason,
        pixels_masked=masked, relative_path=relative, file_size=file_size, frame_index=frame_index,
        metadata=_metadata_json(dataset), import_job=job,
    )
    mappings = [
        SourceMapping(project=project, kind=SourceMapping.Kind.PATIENT, pseudonym=result.patient_pseudonym,
                      source_value=result.source_patient_id, date_shift_days=result.date_shift_days),
        SourceMapping(project=project, kind=SourceMapping.Kind.STUDY, pseudonym=dataset.StudyInstanceUID,
                      source_value=result.source_study_uid),
        SourceMapping(project=project, kind=SourceMapping.Kind.SERIES, pseudonym=dataset.SeriesInstanceUID,
                      source_value=result.source_series_uid),
        SourceMapping(project=project, kind=SourceMapping.Kind.INSTANCE, pseudonym=dataset.SOPInstanceUID,
                      source_value=result.source_instance_uid),
    ]
    SourceMapping.objects.bulk_create(mappings, ignore_conflicts=True)
    return instance


# --- import jobs ---------------------------------------------------------------------------------


def check_import_folder(path: str) -> Path:
    """A server folder an admin may import from. Raises ImportNotAllowed."""
    resolved = Path(path).resolve()
    if not any(resolved.is_relative_to(root.resolve()) for root in settings.CARDIOCROWD_IMPORT_ROOTS):
        raise ImportNotAllowed(f"{path} is outside the import roots (CARDIOCROWD_IMPORT_ROOTS)")
    return resolved


def create_import_job(*, project: Project, kind: str, parameters: dict, user: AbstractBaseUser | None,
                      enqueue: bool = True) -> ImportJob:
    """Record an import job and queue it for a worker once the transaction commits."""
    job = ImportJob.objects.create(project=project, kind=kind, parameters=parameters, created_by=user)
    if enqueue:
        from .tasks import run_import_job_task

        transaction.on_commit(lambda: run_import_job_task.delay(job.pk))
    return job


@dataclass
class _Progress:
    job: ImportJob
    callback: Callable[[ImportJob], None] | None
    flushed_at: float = 0.0
    pending: dict | None = None

    def add(self, **counts: int) -> None:
        self.pending = self.pending or {}
        for key, value in counts.items():
            self.pending[key] = self.pending.get(key, 0) + value
            setattr(self.job, key, getattr(self.job, key) + value)
        if time.monotonic() - self.flushed_at > 0.25:
            self.flush()
        if self.callback:
            self.callback(self.job)

    def flush(self) -> None:
        if self.pending:
            ImportJob.objects.filter(pk=self.job.pk).update(**{k: F(k) + v for k, v in self.pending.items()})
            self.pending = None
        self.flushed_at = time.monotonic()


def run_import_job(*, job_id: int, on_progress: Callable[[ImportJob], None] | None = None) -> ImportJob:
    """Run an import job to its end. Safe to run twice: finished jobs are left alone and
    instances already stored are found as duplicates of this same job."""
    claimed = ImportJob.objects.filter(pk=job_id, status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING])
    # A re-delivered job (worker lost) starts its counts afresh; stored instances are not redone.
    if not claimed.update(status=ImportJob.Status.RUNNING, started_at=timezone.now(), total=0, done=0, imported=0,
                          duplicates=0, refused=0, quarantined=0):
        return ImportJob.objects.get(pk=job_id)
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    job.problems.all().delete()
    progress = _Progress(job=job, callback=on_progress)
    try:
        for candidate in _candidates(job, progress):
            _ingest_candidate(job, candidate, progress)
        progress.flush()
        job.status = ImportJob.Status.SUCCEEDED
    except SourceUnavailable as error:
        progress.flush()
        job.status, job.failure_reason = ImportJob.Status.FAILED, str(error)
    except InvalidDicom as error:  # an unsafe archive found while listing
        progress.flush()
        job.status, job.failure_reason = ImportJob.Status.FAILED, str(error)
    finally:
        if job.kind == ImportJob.Kind.UPLOAD and job.status != ImportJob.Status.RUNNING:
            storage.remove_staging_dir(job.parameters.get("staging", ""))
    job.finished_at = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(status=job.status, failure_reason=job.failure_reason,
                                               finished_at=job.finished_at)
    job.refresh_from_db()
    return job


def _ingest_candidate(job: ImportJob, candidate: Candidate, progress: _Progress) -> None:
    try:
        dataset = candidate.load()
        outcome = ingest_dataset(project=job.project, dataset=dataset, job=job)
    except (InvalidDicom, FrameIndexError) as error:
        ImportProblem.objects.create(job=job, reference=candidate.reference[:500], reason=str(error)[:500])
        progress.add(done=1, refused=1)
        return
    if outcome is Outcome.DUPLICATE:
        progress.add(done=1, duplicates=1)
    elif outcome is Outcome.QUARANTINED:
        progress.add(done=1, imported=1, quarantined=1)
    else:
        progress.add(done=1, imported=1)


def _candidates(job: ImportJob, progress: _Progress) -> Iterator[Candidate]:
    parameters = job.parameters
    if job.kind in (ImportJob.Kind.UPLOAD, ImportJob.Kind.FOLDER):
        paths = [parameters["staging"]] if job.kind == ImportJob.Kind.UPLOAD else parameters["paths"]
        candidates = file_candidates(paths, settings.CARDIOCROWD_MAX_UPLOAD_BYTES)
        _set_total(job, len(candidates), progress)
        yield from candidates
        return
    client = _client_for(job)
    plan = plan_dicomweb(client, study_uids=parameters.get("study_uids") or [], query=parameters.get("query"))
    _set_total(job, sum(count for _, _, count in plan), progress)
    for study_uid, series_uid, _ in plan:
        yield from iter_dicomweb_series(client, study_uid, series_uid)


def _set_total(job: ImportJob, total: int, progress: _Progress) -> None:
    job.total = total
    ImportJob.objects.filter(pk=job.pk).update(total=total)
    if progress.callback:
        progress.callback(job)


def _client_for(job: ImportJob):
    parameters = job.parameters
    if source_id := parameters.get("source_id"):
        source = DicomWebSource.objects.get(pk=source_id, project=job.project)
        import os

        secret = os.environ.get(source.secret_env, "") if source.secret_env else ""
        return dicomweb_client(url=source.url, auth=source.auth, username=source.username, secret=secret)
    return dicomweb_client(url=parameters["url"])


def stage_upload(*, files: Iterable[tuple[str, object]]) -> tuple[Path, list[dict]]:
    """Write uploaded files into a fresh staging folder and check every instance in them.

    Returns the folder and the problems found ({"file", "problem"}); with any problem the folder
    is already removed, so a refused upload leaves nothing behind."""
    staging = storage.new_staging_dir()
    problems: list[dict] = []
    try:
        for position, (name, upload) in enumerate(files):
            safe_name = f"{position:05d}-{Path(name).name or 'upload'}"
            with open(staging / safe_name, "wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
        try:
            candidates = file_candidates([staging], settings.CARDIOCROWD_MAX_UPLOAD_BYTES)
        except InvalidDicom as error:
            problems.append({"file": str(error).split(":")[0][6:], "problem": str(error)})
            candidates = []
        for candidate in candidates:
            try:
                candidate.load()
            except InvalidDicom as error:
                problems.append({"file": candidate.reference[6:], "problem": str(error)})
    except BaseException:
        storage.remove_staging_dir(staging)
        raise
    if problems:
        storage.remove_staging_dir(staging)
    return staging, problems
