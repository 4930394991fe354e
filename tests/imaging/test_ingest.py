import pydicom
import pytest
from django.core.management import CommandError, call_command

from cardiocrowd.accounts.models import Project
from cardiocrowd.imaging import storage
from cardiocrowd.imaging.frames import FrameIndex
from cardiocrowd.imaging.models import ImportJob, Instance, SourceMapping, Study
from cardiocrowd.imaging.services import Outcome
from tests.conftest import DICOM_DATA, ECHO_CINE, SUNNYBROOK_PATIENT

COMPRESSED = {
    "1.2.840.10008.1.2.4.50": DICOM_DATA / "orthanc-tests" / "TS_1.2.840.10008.1.2.4.50.dcm",  # JPEG baseline
    "1.2.840.10008.1.2.4.70": DICOM_DATA / "orthanc-tests" / "TS_1.2.840.10008.1.2.4.70.dcm",  # JPEG lossless
    "1.2.840.10008.1.2.4.90": DICOM_DATA / "orthanc-tests" / "TS_1.2.840.10008.1.2.4.90.dcm",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91": DICOM_DATA / "orthanc-tests" / "TS_1.2.840.10008.1.2.4.91.dcm",  # JPEG 2000
    "1.2.840.10008.1.2.5": DICOM_DATA / "orthanc-tests" / "TS_1.2.840.10008.1.2.5.dcm",        # RLE
}


@pytest.mark.parametrize("syntax", COMPRESSED)
def test_compressed_instances_are_kept_in_their_transfer_syntax(project, ingest, syntax):
    project.burned_in_policy = Project.BurnedInPolicy.QUARANTINE
    project.save()

    ingest(project, COMPRESSED[syntax])

    instance = Instance.objects.get(project=project)
    assert instance.transfer_syntax_uid == syntax
    stored = pydicom.dcmread(storage.instance_path(instance.relative_path))
    assert stored.file_meta.TransferSyntaxUID == syntax
    source_pixels = pydicom.dcmread(COMPRESSED[syntax]).pixel_array
    assert (stored.pixel_array == source_pixels).all()


def test_echo_cine_is_indexed_frame_by_frame(project, ingest):
    project.burned_in_policy = Project.BurnedInPolicy.MASK
    project.pixel_mask_rules = [{"modality": "US", "x": 0, "y": 0, "width": 130, "height": 62}]
    project.save()

    assert ingest(project, ECHO_CINE) == [Outcome.IMPORTED]

    instance = Instance.objects.get(project=project)
    assert (instance.number_of_frames, instance.frame_time_ms) == (120, 33.333)
    assert (instance.rows, instance.columns) == (480, 640)
    assert instance.pixels_masked is True
    index = FrameIndex(bytes(instance.frame_index))
    stored = pydicom.dcmread(storage.instance_path(instance.relative_path))
    frames = list(pydicom.encaps.generate_frames(stored.PixelData, number_of_frames=120))
    with open(storage.instance_path(instance.relative_path), "rb") as file:
        assert [index.read_frame(file, n) for n in (1, 60, 120)] == [frames[0], frames[59], frames[119]]


def test_burned_in_ultrasound_without_a_mask_rule_is_quarantined(project, ingest):
    assert ingest(project, ECHO_CINE) == [Outcome.QUARANTINED]

    instance = Instance.objects.get(project=project)
    assert instance.status == Instance.Status.QUARANTINED
    assert instance.quarantine_reason.startswith("burned-in annotation")


def test_importing_twice_stores_one_copy(project, ingest):
    files = sorted(SUNNYBROOK_PATIENT.glob("*.dcm"), key=lambda p: int(p.stem))[:5]

    first = ingest(project, *files)
    second = ingest(project, *files)

    assert first == [Outcome.IMPORTED] * 5 and second == [Outcome.DUPLICATE] * 5
    assert Instance.objects.filter(project=project).count() == 5
    assert Study.objects.filter(project=project).count() == 1
    assert len(list((storage.data_dir() / "dicom").rglob("*.dcm"))) == 5


def test_source_mapping_leads_back_to_the_source_uids(project, ingest):
    source = pydicom.dcmread(SUNNYBROOK_PATIENT / "1.dcm", stop_before_pixels=True)

    ingest(project, SUNNYBROOK_PATIENT / "1.dcm")

    instance = Instance.objects.select_related("series__study").get(project=project)
    mapping = {m.kind: m.source_value for m in SourceMapping.objects.filter(project=project)}
    assert mapping == {"patient": "SCD0000101", "study": source.StudyInstanceUID,
                       "series": source.SeriesInstanceUID, "instance": source.SOPInstanceUID}
    assert instance.sop_instance_uid != source.SOPInstanceUID
    assert SourceMapping.objects.get(kind="instance").pseudonym == instance.sop_instance_uid


def test_import_command_prints_a_summary_with_refusals(db, capsys, copy_of):
    folder = copy_of(SUNNYBROOK_PATIENT / "1.dcm", SUNNYBROOK_PATIENT / "2.dcm",
                     DICOM_DATA / "pydicom" / "no_meta.dcm", DICOM_DATA / "pydicom" / "MR_truncated.dcm")

    call_command("import_dicom", "--project", "cmd", "--create", str(folder))
    call_command("import_dicom", "--project", "cmd", str(folder / "1.dcm"))

    output = capsys.readouterr().out.splitlines()
    assert output[0] == "imported 2 (quarantined 0), skipped as duplicate 0, refused 2"
    assert "  refused MR_truncated.dcm: truncated file: pixel data holds 8130 of 8192 bytes" in output
    assert ("  refused no_meta.dcm: not a DICOM Part-10 file (no 'DICM' preamble and file meta header)"
            in output)
    assert output[-1] == "imported 0 (quarantined 0), skipped as duplicate 1, refused 0"
    assert ImportJob.objects.filter(project__slug="cmd", status="succeeded").count() == 2


def test_import_command_refuses_an_unknown_project_without_create(db):
    with pytest.raises(CommandError, match="no project 'nope'"):
        call_command("import_dicom", "--project", "nope", str(SUNNYBROOK_PATIENT / "1.dcm"))

    assert not Project.objects.filter(slug="nope").exists()


def test_a_chunk_rerun_after_a_lost_worker_counts_its_own_work_once(project, copy_of):
    from cardiocrowd.imaging.models import ImportChunk
    from cardiocrowd.imaging.services import create_import_job, plan_import_job, run_import_chunk, with_progress

    folder = copy_of(*[SUNNYBROOK_PATIENT / f"{n}.dcm" for n in range(1, 6)])
    job = create_import_job(project=project, kind=ImportJob.Kind.FOLDER, parameters={"paths": [str(folder)]},
                            user=None, enqueue=False)
    [chunk_id] = plan_import_job(job_id=job.pk)
    run_import_chunk(chunk_id=chunk_id)
    ImportChunk.objects.filter(pk=chunk_id).update(status=ImportChunk.Status.RUNNING)  # as if the ack was lost
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)

    run_import_chunk(chunk_id=chunk_id)

    job = with_progress(ImportJob.objects.filter(pk=job.pk)).get()
    assert (job.status, job.total, job.done, job.imported, job.duplicates) == ("succeeded", 5, 5, 5, 0)
    assert Instance.objects.filter(project=project).count() == 5


def test_the_same_instance_twice_in_one_import_is_one_import_and_one_duplicate(project, tmp_path):
    from cardiocrowd.imaging.services import create_import_job, run_import_job

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "copy.dcm").write_bytes((SUNNYBROOK_PATIENT / "7.dcm").read_bytes())
    (tmp_path / "a" / "original.dcm").write_bytes((SUNNYBROOK_PATIENT / "7.dcm").read_bytes())
    job = create_import_job(project=project, kind=ImportJob.Kind.FOLDER, user=None, enqueue=False,
                            parameters={"paths": [str(tmp_path / "a")]})

    job = run_import_job(job_id=job.pk)

    assert (job.imported, job.duplicates) == (1, 1)
