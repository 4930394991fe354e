"""Exports in S3-compatible object storage (a real Ceph RADOS Gateway): built from the instances in
the bucket into the bucket, downloaded from it checked against the recorded sha256; a failed build
leaves nothing there, and a changed object is refused."""
import hashlib

import pytest

from exports.models import Export
from tests.exports.conftest import exports_url

pytestmark = pytest.mark.object_storage


def keys(object_gateway, bucket: str, prefix: str) -> list[str]:
    listed = object_gateway.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(entry["Key"] for entry in listed.get("Contents", []))


@pytest.fixture
def labeled_in_bucket(request, use_object_storage):
    """The labeled project of the export tests, its instances ingested into a fresh bucket."""
    bucket = use_object_storage()
    return bucket, request.getfixturevalue("labeled")


def test_an_export_is_built_into_the_bucket_and_downloaded_from_it(api_client, labeled_in_bucket, admin_user,
                                                                   export_as, object_gateway, settings):
    bucket, labeled = labeled_in_bucket
    project = labeled.project

    posted = export_as(admin_user, project)
    downloads = {file.name: api_client.get(exports_url(project, 1, file.name))
                 for file in Export.objects.get(project=project, version=1).files.all()}

    export = Export.objects.get(project=project, version=1)
    recorded = {file.name: (file.size, file.sha256) for file in export.files.all()}
    assert posted.status_code == 202 and (export.status, export.error, len(recorded)) == ("ready", "", 8)
    assert keys(object_gateway, bucket, "exports/") == sorted(f"{export.folder}/{name}" for name in recorded)
    for name, response in downloads.items():
        content = b"".join(response.streaming_content)
        assert response.status_code == 200 and (len(content), hashlib.sha256(content).hexdigest()) == recorded[name]
    assert not (settings.CARDIOCROWD_DATA_DIR / "exports").exists()


def test_a_failed_build_leaves_nothing_in_the_bucket_and_a_changed_file_is_refused(
        api_client, labeled_in_bucket, admin_user, export_as, object_gateway):
    bucket, labeled = labeled_in_bucket
    project, echo = labeled.project, labeled.instances["echo"]
    client = object_gateway.client()
    stored = client.get_object(Bucket=bucket, Key=f"dicom/{echo.relative_path}")["Body"].read()
    client.delete_object(Bucket=bucket, Key=f"dicom/{echo.relative_path}")

    export_as(admin_user, project)
    failed = Export.objects.get(project=project, version=1)
    left_after_failure = keys(object_gateway, bucket, "exports/")
    client.put_object(Bucket=bucket, Key=f"dicom/{echo.relative_path}", Body=stored)
    export_as(admin_user, project)
    client.put_object(Bucket=bucket, Key=f"exports/{project.slug}/2/labels.csv", Body=b"item\nchanged\n")
    tampered = api_client.get(exports_url(project, 2, "labels.csv"))

    assert (failed.status, failed.error) == ("failed", f"item {labeled.items['echo'].pk}, field lv: image "
                                                       f"{echo.sop_instance_uid} has no stored file (expected at "
                                                       f"{echo.relative_path})")
    assert left_after_failure == []
    assert Export.objects.get(project=project, version=2).status == "ready"
    assert tampered.status_code == 500
    assert "no longer matches its recorded size and sha256" in tampered.json()["detail"]
