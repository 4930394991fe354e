"""Ingest (de-identify, store, index) and the import jobs that run it over a source.

An import job is planned into chunks — some files, or one DICOMweb series — that Celery
workers run in parallel; each chunk ingests its instances in batches: the CPU work
(de-identification, writing, indexing) per instance, then one transaction per batch.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from pydicom.dataset import Dataset

from cardiocrowd import blobs
from cardiocrowd.accounts.models import Project

from . import deid, storage
from .frames import FrameIndexError, build_frame_index
from .models import DicomWebSource, ImportChunk, ImportJob, ImportProblem, Instance, Series, SourceMapping, Study
from .sources import (
    FileRef,
    SourceUnavailable,
    dicomweb_client,
    iter_dicomweb_series,
    list_files,
    plan_dicomweb,
)
from .validation import InvalidDicom

logger = logging.getLogger(__name__)

PIXEL_DATA_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009}
STUDY_TAGS = ("StudyInstanceUID", "StudyDate", "StudyTime", "PatientName", "PatientID", "PatientSex",
              "PatientAge", "AccessionNumber", "StudyID", "ReferringPhysicianName")
SERIES_TAGS = ("SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDate", "SeriesTime", "BodyPartExamined")
FILES_PER_CHUNK = 50  # files that one chunk ingests
# A DICOMweb series larger than this is shared by several chunks (each streams it, parses its share).
INSTANCES_PER_SERIES_PART = 100
INSTANCES_PER_BATCH = 25  # instances recorded in one transaction


class Outcome(Enum):
    IMPORTED = "imported"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"


class ImportNotAllowed(Exception):
    """The folder lies outside CARDIOCROWD_IMPORT_ROOTS."""


# --- ingest ----------------------------------------------------------------------------------


def deid_policy(project: Project) -> deid.DeidPolicy:
    return deid.DeidPolicy(
        secret=project.pseudonym_secret.encode(),
        shift_dates=project.date_policy == Project.DatePolicy.SHIFT,
        retain_patient_characteristics=project.retain_patient_characteristics,
    )


@dataclass
class PreparedInstance:
    """A de-identified instance already written to the store, waiting for its database rows."""

    dataset: Dataset
    result: deid.DeidResult
    relative_path: str
    file_size: int
    frame_index: bytes
    metadata: dict
    status: str
    quarantine_reason: str
    masked: bool


def prepare_instance(*, project: Project, dataset: Dataset) -> PreparedInstance:
    """De-identify, mask or quarantine, write and index one instance; no database work.
    Raises InvalidDicom, FrameIndexError (and leaves no file behind then)."""
    result = deid.deidentify(dataset, deid_policy(project))
    status, quarantine_reason, masked = Instance.Status.AVAILABLE, "", False
    if deid.has_burned_in_annotation(dataset):
        rules = deid.matching_mask_rules(dataset, project.pixel_mask_rules)
        if project.burned_in_policy == Project.BurnedInPolicy.MASK and rules and "PixelData" in dataset:
            deid.mask_pixels(dataset, rules)
            masked = True
        else:
            status = Instance.Status.QUARANTINED
            quarantine_reason = "burned-in annotation (flagged, or usual for this modality) and no mask rule applies"
    relative = storage.relative_instance_path(project.pk, dataset.StudyInstanceUID, dataset.SeriesInstanceUID,
                                              dataset.SOPInstanceUID)
    # Indexed before it is published: an instance whose frames cannot be located is never stored.
    file_size, index = blobs.write_atomically(storage.instance_name(relative),
                                              lambda file: dataset.save_as(file, enforce_file_format=True),
                                              check=build_frame_index)
    return PreparedInstance(dataset=dataset, result=result, relative_path=relative, file_size=file_size,
                            frame_index=index.packed, metadata=_metadata_json(dataset), status=status,
                            quarantine_reason=quarantine_reason, masked=masked)


def ingest_batch(*, project: Project, datasets: list[Dataset], chunk: ImportChunk | None = None,
                 seen: set[str] | None = None) -> list[Outcome | InvalidDicom | FrameIndexError]:
    """Ingest checked datasets; one outcome (or the refusal) per dataset, in order.

    Idempotent: an instance's pseudonym is a keyed hash of its source UID, so an instance already
    in the project is found before any work is done and stored nothing the second time. `seen`
    carries the pseudonyms a chunk has met so far, across its batches."""
    seen = set() if seen is None else seen
    secret = project.pseudonym_secret.encode()
    sop_uids = [deid.pseudonymize_uid(secret, str(dataset.SOPInstanceUID)) for dataset in datasets]
    existing = dict(Instance.objects.filter(project=project, sop_instance_uid__in=sop_uids)
                    .values_list("sop_instance_uid", "import_chunk_id"))
    outcomes: list = [None] * len(datasets)
    prepared: dict[int, PreparedInstance] = {}
    for position, (dataset, sop_uid) in enumerate(zip(datasets, sop_uids, strict=True)):
        first_sight = sop_uid not in seen
        seen.add(sop_uid)
        if not first_sight:
            outcomes[position] = Outcome.DUPLICATE  # the same instance twice in one import
        elif sop_uid in existing:
            # A chunk re-run after a lost worker finds its own work: imported, not duplicate.
            mine = chunk is not None and existing[sop_uid] == chunk.pk
            outcomes[position] = Outcome.IMPORTED if mine else Outcome.DUPLICATE
        else:
            try:
                prepared[position] = prepare_instance(project=project, dataset=dataset)
            except (InvalidDicom, FrameIndexError) as error:
                outcomes[position] = error
    stored_by = _record_batch(project=project, prepared=list(prepared.values()), chunk=chunk)
    for position, instance in prepared.items():
        if chunk is not None and stored_by.get(instance.dataset.SOPInstanceUID) != chunk.pk:
            outcomes[position] = Outcome.DUPLICATE  # a concurrent worker stored it first (same bytes)
        else:
            quarantined = instance.status == Instance.Status.QUARANTINED
            outcomes[position] = Outcome.QUARANTINED if quarantined else Outcome.IMPORTED
    return outcomes


def ingest_dataset(*, project: Project, dataset: Dataset) -> Outcome:
    """Ingest one checked dataset. Raises InvalidDicom, FrameIndexError."""
    [outcome] = ingest_batch(project=project, datasets=[dataset])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


@transaction.atomic
def _record_batch(*, project: Project, prepared: list[PreparedInstance], chunk: ImportChunk | None
                  ) -> dict[str, int]:
    """Rows for a batch of stored files, in one transaction. Returns SOP UID → storing chunk id."""
    if not prepared:
        return {}
    studies: dict[str, Study] = {}
    series_by_uid: dict[tuple[str, str], Series] = {}
    instances, mappings = [], []
    for item in prepared:
        dataset = item.dataset
        study = studies.get(dataset.StudyInstanceUID)
        if study is None:
            study, _ = Study.objects.get_or_create(
                project=project, study_uid=dataset.StudyInstanceUID,
                defaults={"patient_pseudonym": item.result.patient_pseudonym,
                          "study_date": str(dataset.get("StudyDate", "") or ""),
                          "attributes": _subset_json(dataset, STUDY_TAGS)})
            studies[study.study_uid] = study
        key = (study.study_uid, dataset.SeriesInstanceUID)
        series = series_by_uid.get(key)
        if series is None:
            series, _ = Series.objects.get_or_create(
                study=study, series_uid=dataset.SeriesInstanceUID,
                defaults={"modality": str(dataset.get("Modality", "") or ""),
                          "series_number": _int_or_none(dataset.get("SeriesNumber")),
                          "attributes": _subset_json(dataset, SERIES_TAGS)})
            series_by_uid[key] = series
        instances.append(Instance(
            series=series, project=project, sop_instance_uid=dataset.SOPInstanceUID,
            sop_class_uid=dataset.SOPClassUID, instance_number=_int_or_none(dataset.get("InstanceNumber")),
            transfer_syntax_uid=str(dataset.file_meta.TransferSyntaxUID),
            rows=_int_or_none(dataset.get("Rows")), columns=_int_or_none(dataset.get("Columns")),
            number_of_frames=(int(dataset.get("NumberOfFrames") or 1) if "PixelData" in dataset else 0),
            frame_time_ms=frame_time_ms(dataset), status=item.status, quarantine_reason=item.quarantine_reason,
            pixels_masked=item.masked, relative_path=item.relative_path, file_size=item.file_size,
            frame_index=item.frame_index, metadata=item.metadata, import_chunk=chunk))
        result = item.result
        mappings += [
            SourceMapping(project=project, kind=SourceMapping.Kind.PATIENT, pseudonym=result.patient_pseudonym,
                          source_value=result.source_patient_id, date_shift_days=result.date_shift_days),
            SourceMapping(project=project, kind=SourceMapping.Kind.STUDY, pseudonym=dataset.StudyInstanceUID,
                          source_value=result.source_study_uid),
            SourceMapping(project=project, kind=SourceMapping.Kind.SERIES, pseudonym=dataset.SeriesInstanceUID,
                          source_value=result.source_series_uid),
            SourceMapping(project=project, kind=SourceMapping.Kind.INSTANCE, pseudonym=dataset.SOPInstanceUID,
                          source_value=result.source_instance_uid),
        ]
    Instance.objects.bulk_create(instances, ignore_conflicts=True)  # a racing worker's copy wins
    SourceMapping.objects.bulk_create(mappings, ignore_conflicts=True)
    return dict(Instance.objects.filter(project=project, sop_instance_uid__in=[i.sop_instance_uid for i in instances])
                .values_list("sop_instance_uid", "import_chunk_id"))


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


def frame_time_ms(dataset: Dataset) -> float | None:
    """Frame Time, or 1000 / Cine Rate, or 1000 / Recommended Display Frame Rate."""
    try:
        if dataset.get("FrameTime") not in (None, ""):
            return float(dataset.FrameTime)
        for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
            if rate := float(dataset.get(keyword) or 0):
                return 1000.0 / rate
    except (TypeError, ValueError):
        pass
    return None


# --- import jobs -----------------------------------------------------------------------------


def check_import_folder(path: str) -> Path:
    """A server folder an admin may import from. Raises ImportNotAllowed."""
    resolved = Path(path).resolve()
    if not any(resolved.is_relative_to(root.resolve()) for root in settings.CARDIOCROWD_IMPORT_ROOTS):
        raise ImportNotAllowed(f"{path} is outside the import roots (CARDIOCROWD_IMPORT_ROOTS)")
    return resolved


def create_import_job(*, project: Project, kind: str, parameters: dict, user: AbstractBaseUser | None,
                      enqueue: bool = True) -> ImportJob:
    """Record an import job and, once the transaction commits, queue its planning for a worker."""
    job = ImportJob.objects.create(project=project, kind=kind, parameters=parameters, created_by=user)
    if enqueue:
        from .tasks import plan_import_job_task

        transaction.on_commit(lambda: plan_import_job_task.delay(job.pk))
    return job


def with_progress(jobs: QuerySet[ImportJob]) -> QuerySet[ImportJob]:
    """Jobs annotated with the sums of their chunks' counts."""
    return jobs.annotate(**{name: Coalesce(Sum(f"chunks__{name}"), 0) for name in
                            ("total", "done", "imported", "duplicates", "refused", "quarantined")})


@transaction.atomic
def plan_import_job(*, job_id: int) -> list[int]:
    """Split a queued job into chunks and return the ids of those still to run.

    Safe to run twice: claiming the job and recording its chunks commit together, so a job is
    either still queued or planned; a planned job returns its unfinished chunks, a finished job
    none. A source that cannot be listed fails the job with the reason."""
    job = ImportJob.objects.select_for_update(of=("self",)).select_related("project").get(pk=job_id)
    if job.status != ImportJob.Status.QUEUED:
        unfinished = [ImportChunk.Status.QUEUED, ImportChunk.Status.RUNNING]
        return list(job.chunks.filter(status__in=unfinished).values_list("pk", flat=True))
    ImportJob.objects.filter(pk=job_id).update(status=ImportJob.Status.RUNNING, started_at=timezone.now())
    try:
        plans = _chunk_parameters(job)
    except (SourceUnavailable, InvalidDicom) as error:
        _finish_job(job.pk, failure_reason=str(error))
        return []
    chunks = ImportChunk.objects.bulk_create(
        [ImportChunk(job=job, number=number, parameters=parameters, total=total)
         for number, (parameters, total) in enumerate(plans)])
    if not chunks:
        _finish_job(job.pk, failure_reason="")
    return [chunk.pk for chunk in chunks]


def _chunk_parameters(job: ImportJob) -> list[tuple[dict, int]]:
    if job.kind in (ImportJob.Kind.UPLOAD, ImportJob.Kind.FOLDER):
        paths = [job.parameters["staging"]] if job.kind == ImportJob.Kind.UPLOAD else job.parameters["paths"]
        refs = list_files(paths, settings.CARDIOCROWD_MAX_UPLOAD_BYTES)
        return [({"files": [[r.path, r.member, r.reference] for r in refs[start: start + FILES_PER_CHUNK]]},
                 len(refs[start: start + FILES_PER_CHUNK])) for start in range(0, len(refs), FILES_PER_CHUNK)]
    plan = plan_dicomweb(_client_for(job), study_uids=job.parameters.get("study_uids") or [],
                         query=job.parameters.get("query"), instances_per_part=INSTANCES_PER_SERIES_PART)
    return [({"study_uid": study, "series_uid": series, "sop_uids": sop_uids}, count)
            for study, series, sop_uids, count in plan]


def run_import_job(*, job_id: int, on_progress: Callable[[int, int], None] | None = None) -> ImportJob:
    """Plan and run a whole job in this process (management command, demo loader, tests)."""
    for chunk_id in plan_import_job(job_id=job_id):
        run_import_chunk(chunk_id=chunk_id, on_progress=on_progress)
    return with_progress(ImportJob.objects.filter(pk=job_id)).get()


class _ChunkProgress:
    """Counts of one chunk, written to its row at most every quarter second."""

    def __init__(self, chunk: ImportChunk, on_progress: Callable[[int, int], None] | None) -> None:
        self.chunk, self.on_progress, self.pending, self.flushed_at = chunk, on_progress, {}, time.monotonic()

    def add(self, **counts: int) -> None:
        for name, value in counts.items():
            self.pending[name] = self.pending.get(name, 0) + value
        if time.monotonic() - self.flushed_at > 0.25:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            ImportChunk.objects.filter(pk=self.chunk.pk).update(**{k: F(k) + v for k, v in self.pending.items()})
            if self.on_progress:
                job = with_progress(ImportJob.objects.filter(pk=self.chunk.job_id)).get()
                self.on_progress(job.done, job.total)
            self.pending = {}
        self.flushed_at = time.monotonic()


def run_import_chunk(*, chunk_id: int, on_progress: Callable[[int, int], None] | None = None) -> None:
    """Ingest one chunk. Idempotent: a finished chunk is skipped; a re-run starts its counts afresh
    and finds what it stored before as its job's own."""
    unfinished = [ImportChunk.Status.QUEUED, ImportChunk.Status.RUNNING]
    if not ImportChunk.objects.filter(pk=chunk_id, status__in=unfinished).update(
            status=ImportChunk.Status.RUNNING, done=0, imported=0, duplicates=0, refused=0, quarantined=0):
        return
    chunk = ImportChunk.objects.select_related("job__project").get(pk=chunk_id)
    chunk.problems.all().delete()
    progress = _ChunkProgress(chunk, on_progress)
    status, failure_reason, seen = ImportChunk.Status.DONE, "", set()
    try:
        for batch in _batches(_chunk_candidates(chunk), INSTANCES_PER_BATCH):
            _ingest_candidates(chunk, batch, progress, seen)
    except SourceUnavailable as error:
        status, failure_reason = ImportChunk.Status.FAILED, str(error)
    progress.flush()
    ImportChunk.objects.filter(pk=chunk.pk).update(status=status, failure_reason=failure_reason)
    _finish_job_if_complete(chunk.job_id)


def _chunk_candidates(chunk: ImportChunk) -> Iterator:
    parameters = chunk.parameters
    if "files" in parameters:
        for path, member, reference in parameters["files"]:
            yield FileRef(path, member, reference)
        return
    yield from iter_dicomweb_series(_client_for(chunk.job), parameters["study_uid"], parameters["series_uid"],
                                    parameters.get("sop_uids"))


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _ingest_candidates(chunk: ImportChunk, candidates: list, progress: _ChunkProgress, seen: set[str]) -> None:
    loaded, refused = [], []
    for candidate in candidates:
        try:
            loaded.append((candidate.reference, candidate.load()))
        except InvalidDicom as error:
            refused.append((candidate.reference, error))
    outcomes = ingest_batch(project=chunk.job.project, datasets=[dataset for _, dataset in loaded], chunk=chunk,
                            seen=seen)
    for (reference, _), outcome in zip(loaded, outcomes, strict=True):
        if isinstance(outcome, Exception):
            refused.append((reference, outcome))
        elif outcome is Outcome.DUPLICATE:
            progress.add(done=1, duplicates=1)
        else:
            progress.add(done=1, imported=1, quarantined=int(outcome is Outcome.QUARANTINED))
    ImportProblem.objects.bulk_create([ImportProblem(chunk=chunk, reference=reference[:500], reason=str(error)[:500])
                                       for reference, error in refused])
    if refused:
        progress.add(done=len(refused), refused=len(refused))


def _finish_job_if_complete(job_id: int) -> None:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)  # serializes the chunks finishing last
        if job.status != ImportJob.Status.RUNNING:
            return
        chunks = list(job.chunks.values_list("status", "failure_reason"))
        if any(status in (ImportChunk.Status.QUEUED, ImportChunk.Status.RUNNING) for status, _ in chunks):
            return
        failures = [reason for status, reason in chunks if status == ImportChunk.Status.FAILED]
    _finish_job(job_id, failure_reason=failures[0] if failures else "")


def _finish_job(job_id: int, *, failure_reason: str) -> None:
    status = ImportJob.Status.FAILED if failure_reason else ImportJob.Status.SUCCEEDED
    ImportJob.objects.filter(pk=job_id).update(status=status, failure_reason=failure_reason,
                                               finished_at=timezone.now())
    job = ImportJob.objects.get(pk=job_id)
    if job.kind == ImportJob.Kind.UPLOAD:
        storage.remove_staging_dir(job.parameters.get("staging", ""))  # the originals carry PHI


def _client_for(job: ImportJob):
    parameters = job.parameters
    if source_id := parameters.get("source_id"):
        source = DicomWebSource.objects.get(pk=source_id, project=job.project)
        secret = os.environ.get(source.secret_env, "") if source.secret_env else ""
        return dicomweb_client(url=source.url, auth=source.auth, username=source.username, secret=secret)
    return dicomweb_client(url=parameters["url"])


# --- uploads ---------------------------------------------------------------------------------


def stage_upload(*, files: Iterable[tuple[str, object]]) -> tuple[Path, list[dict]]:
    """Write uploaded files into a fresh staging folder and check every instance in them.

    Returns the folder and the problems found ({"file", "problem"}); with any problem the folder
    is already removed, so a refused upload leaves nothing behind."""
    staging = storage.new_staging_dir()
    names: dict[str, str] = {}  # staged name → the uploader's file name
    problems: list[dict] = []
    try:
        for position, (name, upload) in enumerate(files):
            staged = f"{position:05d}-{Path(name).name or 'upload'}"
            names[staged] = Path(name).name
            with open(staging / staged, "wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)

        def original(reference: str) -> str:
            staged, _, member = reference.partition(":")
            return names.get(staged, staged) + (f":{member}" if member else "")

        refs = []
        for staged in names:
            try:
                refs += list_files([staging / staged], settings.CARDIOCROWD_MAX_UPLOAD_BYTES)
            except InvalidDicom as error:
                problems.append({"file": names[staged], "problem": str(error).replace(staged, names[staged])})
        for ref in refs:
            try:
                ref.load()
            except InvalidDicom as error:
                problems.append({"file": original(ref.reference), "problem": str(error)})
    except BaseException:
        storage.remove_staging_dir(staging)
        raise
    if problems:
        storage.remove_staging_dir(staging)
    return staging, problems
