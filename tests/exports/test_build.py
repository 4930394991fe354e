"""Building an export in its Celery task: a failure is recorded with its reason and leaves no
files, a rerun after a lost worker rebuilds from scratch and publishes at once, a build another
worker holds is retried later, and every kind of source geometry gets a SEG that names its frame."""
import shutil
from datetime import timedelta

import highdicom as hd
import numpy as np
import psycopg
import pydicom
import pytest
from django.db import connection
from django.utils import timezone

from cardiocrowd.imaging.models import Instance
from cardiocrowd.imaging.storage import instance_path
from exports.models import Export, ExportFile
from exports.services import BUILD_LOCK_NAMESPACE, ExportBusy, build_export, request_export
from exports.tasks import build_export_task
from labeling.consensus.masks import rasterize_polygon
from labeling.design import StageDesign, add_items_to_stage, append_stage, save_schema_version
from labeling.models import AuditEvent, Consensus, Item, Task
from tests.conftest import DICOM_DATA
from tests.exports.conftest import SCHEMA, exports_url


def export_dir(settings, project):
    return settings.CARDIOCROWD_DATA_DIR / "exports" / project.slug


def test_a_label_on_a_missing_image_file_fails_the_build_and_leaves_no_files(api_client, labeled, admin_user,
                                                                             export_as, settings, tmp_path):
    project, echo = labeled.project, labeled.instances["echo"]
    stored = instance_path(echo.relative_path)
    shutil.move(stored, tmp_path / "echo.dcm")

    posted = export_as(admin_user, project)
    detail = api_client.get(exports_url(project, 1)).json()
    download = api_client.get(exports_url(project, 1, "labels.csv"))

    export = Export.objects.get(project=project, version=1)
    assert posted.status_code == 202
    assert (export.status, detail["status"], detail["files"]) == ("failed", "failed", [])
    assert export.error == (f"item {labeled.items['echo'].pk}, field lv: image {echo.sop_instance_uid} has no "
                            f"stored file (expected at {echo.relative_path})")
    assert detail["error"] == export.error and export.finished_at is not None
    assert list(export_dir(settings, project).iterdir()) == []  # neither the version nor a temporary folder
    assert ExportFile.objects.filter(export=export).count() == 0 and download.status_code == 404
    assert AuditEvent.objects.get(action="export.failed").detail["reason"] == export.error

    # The file is back: the same export, run again, is built whole.
    shutil.move(tmp_path / "echo.dcm", stored)
    build_export_task.delay(export.pk)
    export.refresh_from_db()
    assert (export.status, export.error, export.files.count()) == ("ready", "", 8)
    assert sorted(path.name for path in export_dir(settings, project).iterdir()) == ["1"]


def test_a_label_naming_an_image_outside_the_project_fails_the_build(labeled, admin_user, export_as):
    # The result is edited through the model: the engine never accepts such an answer.
    item = labeled.items["mr48"]
    item.result = {**item.result, "lv": {**item.result["lv"], "instance": "2.25.404"}}
    item.save(update_fields=["result"])

    export_as(admin_user, labeled.project)

    export = Export.objects.get(project=labeled.project, version=1)
    assert (export.status, export.error) == ("failed", f"item {item.pk}, field lv: image 2.25.404 is not in this "
                                                       "project")


def test_a_rerun_after_a_lost_worker_rebuilds_and_replaces_what_it_left(labeled, admin_user, export_as, settings):
    project = labeled.project
    export_as(admin_user, project)
    export = Export.objects.get(project=project, version=1)
    before = {file.name: file.sha256 for file in export.files.all()}
    seg_name = f"seg-{labeled.instances['echo'].sop_instance_uid}.dcm"
    seg_uid = pydicom.dcmread(settings.CARDIOCROWD_DATA_DIR / export.folder / seg_name).SOPInstanceUID
    # A worker published the folder, then died before recording it; another one died mid-build.
    Export.objects.filter(pk=export.pk).update(status=Export.Status.BUILDING)
    ExportFile.objects.filter(export=export).delete()
    (settings.CARDIOCROWD_DATA_DIR / export.folder / "half-written.part").write_bytes(b"\0" * 10)
    stale = export_dir(settings, project) / ".build-1-0123456789abcdef"
    stale.mkdir()
    (stale / "labels.csv").write_bytes(b"item\n")

    build_export_task.delay(export.pk)

    export.refresh_from_db()
    after = {file.name: file.sha256 for file in export.files.all()}
    assert export.status == "ready" and sorted(after) == sorted(before)
    assert sorted(path.name for path in (settings.CARDIOCROWD_DATA_DIR / export.folder).iterdir()) == sorted(before)
    assert sorted(path.name for path in export_dir(settings, project).iterdir()) == ["1"]
    assert (after["labels.csv"], after["labels.json"]) == (before["labels.csv"], before["labels.json"])
    # The same export names its DICOM objects the same way, however often it is built.
    assert pydicom.dcmread(settings.CARDIOCROWD_DATA_DIR / export.folder / seg_name).SOPInstanceUID == seg_uid


def test_a_build_another_worker_holds_waits_for_it(labeled, admin_user, django_capture_on_commit_callbacks,
                                                    settings):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        export = request_export(project=labeled.project, user=admin_user)
    database = connection.settings_dict
    other = psycopg.connect(dbname=database["NAME"], user=database["USER"], host=database["HOST"],
                            port=database["PORT"] or 5432, autocommit=True)
    try:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [BUILD_LOCK_NAMESPACE, export.pk])

        with pytest.raises(ExportBusy):
            build_export(export_id=export.pk)

        export.refresh_from_db()
        assert export.status == "queued"
        assert not export_dir(settings, labeled.project).exists()
    finally:
        # Unlocked before closing: a closed connection's backend lets go of its locks only once it has
        # processed the goodbye, which on a busy machine can be after the build below starts.
        other.execute("SELECT pg_advisory_unlock(%s, %s)", [BUILD_LOCK_NAMESPACE, export.pk])
        other.close()
    built = build_export(export_id=export.pk)
    assert len(queued) == 1 and built.status == "ready"


def test_versions_are_numbered_per_project(labeled, admin_user, django_capture_on_commit_callbacks):
    from tests.factories import ProjectFactory

    other = ProjectFactory(slug="mr-study")
    with django_capture_on_commit_callbacks(execute=False):
        versions = [request_export(project=project, user=admin_user).version
                    for project in (labeled.project, labeled.project, other, labeled.project)]

    assert versions == [1, 2, 1, 3]


@pytest.mark.parametrize(("path", "frame", "points"), [
    # An enhanced CT: frames with a frame of reference, each placed by its own position.
    (DICOM_DATA / "pydicom-data" / "eCT_Supplemental.dcm", 2, [[100, 120], [300, 110], [320, 330], [90, 300]]),
    # A single-frame ultrasound without a frame of reference.
    (DICOM_DATA / "pydicom-data" / "US1_UNCR.dcm", 1, [[250, 150], [400, 160], [380, 300], [260, 310]]),
])
def test_every_kind_of_source_geometry_gets_a_seg_on_its_labeled_frame(project, admin_user, ingest, export_as,
                                                                       settings, path, frame, points):
    project.burned_in_policy = "mask"
    project.pixel_mask_rules = [{"modality": "US", "height": 62, "width": 130}]
    project.save()
    ingest(project, path)
    instance = Instance.objects.get(project=project)
    # These images are here for their geometry only: the result is set through the models.
    schema = save_schema_version(project=project, name="lv-measures", definition=SCHEMA, user=admin_user)
    stage = append_stage(project=project, schema=schema, user=admin_user, design=StageDesign(name="Crowd"))
    item = Item.objects.create(project=project, study=instance.series.study, series=instance.series,
                               instance=instance)
    add_items_to_stage(stage=stage, items=[item])
    task = Task.objects.get(stage=stage, item=item)
    value = {"frame": frame, "points": points, "instance": instance.sop_instance_uid}
    Consensus.objects.create(task=task, method="majority_vote", fields={"lv": {"value": value, "share": 1.0,
                                                                               "votes": 3}},
                             confidence=1.0, answer_count=3)
    Item.objects.filter(pk=item.pk).update(status=Item.Status.ACCEPTED, result={"lv": value}, result_task=task,
                                           decided_at=timezone.now())

    export_as(admin_user, project)

    export = Export.objects.get(project=project, version=1)
    assert export.status == "ready", export.error
    source = pydicom.dcmread(instance_path(instance.relative_path), stop_before_pixels=True)
    seg = hd.seg.segread(settings.CARDIOCROWD_DATA_DIR / export.folder / f"seg-{instance.sop_instance_uid}.dcm")
    if "NumberOfFrames" in source:
        mask = seg.get_pixels_by_source_frame(source.SOPInstanceUID, [frame], segment_numbers=[1])[0, :, :, 0]
        reference = seg.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]
        assert int(reference.ReferencedFrameNumber) == frame and seg.NumberOfFrames == 1
    else:
        mask = seg.get_pixels_by_source_instance([source.SOPInstanceUID], segment_numbers=[1])[0, :, :, 0]
    assert seg.get_source_image_uids() == [(source.StudyInstanceUID, source.SeriesInstanceUID,
                                            source.SOPInstanceUID)]
    assert seg.get("FrameOfReferenceUID") == source.get("FrameOfReferenceUID")
    assert np.array_equal(mask.astype(bool), rasterize_polygon(points, source.Rows, source.Columns))
    assert not ExportFile.objects.filter(export=export, kind="sr").exists()  # no area: uncalibrated or not given


def test_an_export_holds_the_items_decided_before_it_was_requested(labeled, admin_user,
                                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        export = request_export(project=labeled.project, user=admin_user)
    # Decided after the request (moved through the model: only the time of the decision matters).
    Item.objects.filter(pk=labeled.items["mr59"].pk).update(decided_at=export.requested_at + timedelta(seconds=1))

    built = build_export(export_id=export.pk)

    assert (built.status, built.item_count, built.accepted_count, built.rejected_count) == ("ready", 2, 2, 0)
