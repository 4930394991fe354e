"""The de-identified store in S3-compatible object storage (a real Ceph RADOS Gateway): an ingested
instance is one object in the bucket and nothing on local disk, its frames are served by ranged
GETs and equal the local folder's bytes, and an instance that cannot be indexed leaves nothing."""
import io

import pydicom
import pytest

from cardiocrowd import blobs
from cardiocrowd.accounts.models import Project
from cardiocrowd.imaging.frames import FrameIndexError
from cardiocrowd.imaging.models import Instance
from cardiocrowd.imaging.services import ingest_dataset
from cardiocrowd.imaging.storage import instance_path
from cardiocrowd.imaging.validation import read_part10
from tests.conftest import ECHO_CINE, SUNNYBROOK_PATIENT
from tests.imaging.test_dicomweb import ECHO_MASK, instance_url, parse_multipart

pytestmark = pytest.mark.object_storage

STORED_SYNTAX = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
UNCOMPRESSED = 'multipart/related; type="application/octet-stream"'


def keys(object_gateway, bucket: str) -> list[tuple[str, int]]:
    listed = object_gateway.client().list_objects_v2(Bucket=bucket)
    return [(entry["Key"], entry["Size"]) for entry in listed.get("Contents", [])]


def frames(api_client, instance, numbers: str, accept: str) -> list[bytes]:
    response = api_client.get(f"{instance_url(instance)}/frames/{numbers}", HTTP_ACCEPT=accept)
    assert response.status_code == 200
    return [payload for _, payload in parse_multipart(response)]


def test_an_ingested_instance_is_one_object_in_the_bucket_and_nothing_on_local_disk(
        project, ingest, use_object_storage, object_gateway, settings):
    bucket = use_object_storage()

    ingest(project, SUNNYBROOK_PATIENT / "1.dcm")

    instance = Instance.objects.get(project=project)
    assert keys(object_gateway, bucket) == [(f"dicom/{instance.relative_path}", instance.file_size)]
    stored = object_gateway.client().get_object(Bucket=bucket, Key=f"dicom/{instance.relative_path}")["Body"].read()
    assert pydicom.dcmread(io.BytesIO(stored)).SOPInstanceUID == instance.sop_instance_uid
    assert not (settings.CARDIOCROWD_DATA_DIR / "dicom").exists()


def test_frames_from_the_bucket_are_the_local_folders_bytes_read_by_ranged_gets(
        api_client, project, ingest, annotator, assign, use_object_storage, object_gateway):
    project.burned_in_policy, project.pixel_mask_rules = Project.BurnedInPolicy.MASK, ECHO_MASK
    project.save()
    ingest(project, ECHO_CINE)
    echo = Instance.objects.select_related("series__study").get(project=project)
    assign(annotator, instance=echo)
    api_client.force_authenticate(annotator)
    from_folder = frames(api_client, echo, "1,60,120", STORED_SYNTAX)
    decoded_from_folder = frames(api_client, echo, "60", UNCOMPRESSED)
    local_file = instance_path(echo.relative_path)
    # The same stored instance, moved to the bucket: the rows (and their frame index) stay as they are.
    bucket = use_object_storage()
    object_gateway.client().upload_file(str(local_file), bucket, f"dicom/{echo.relative_path}")
    requested_ranges = []
    client = blobs.data_storage().connection.meta.client  # this thread's, which the view uses too
    client.meta.events.register("provide-client-params.s3.GetObject",
                                lambda params, **kwargs: requested_ranges.append(params.get("Range")))

    from_bucket = frames(api_client, echo, "1,60,120", STORED_SYNTAX)
    stored_reads = list(requested_ranges)
    decoded_from_bucket = frames(api_client, echo, "60", UNCOMPRESSED)

    assert from_bucket == from_folder and [len(frame) for frame in from_bucket] == [len(f) for f in from_folder]
    assert decoded_from_bucket == decoded_from_folder
    assert len(stored_reads) == 3 and all(value.startswith("bytes=") for value in stored_reads)
    assert all(value is not None for value in requested_ranges)  # never the whole object
    fetched = sum(int(end) - int(start) + 1 for start, end in
                  (value.removeprefix("bytes=").split("-") for value in requested_ranges))
    assert fetched < echo.file_size / 4


def test_an_instance_whose_frames_cannot_be_located_leaves_no_object(project, use_object_storage, object_gateway):
    bucket = use_object_storage()
    dataset = read_part10(str(SUNNYBROOK_PATIENT / "1.dcm"))
    dataset.NumberOfFrames = 50  # more frames than its pixel data holds

    with pytest.raises(FrameIndexError):
        ingest_dataset(project=project, dataset=dataset)

    assert keys(object_gateway, bucket) == [] and Instance.objects.count() == 0
