"""The storage layer (cardiocrowd/blobs.py) on S3-compatible object storage (a real Ceph RADOS
Gateway) and the settings that choose it: writes are whole or absent, ranges and listings read
what was written, readiness sees a bucket that is not there."""
import os
import subprocess
import sys

import pytest

from cardiocrowd import blobs
from cardiocrowd.operations.health import check_storage
from tests.conftest import REPOSITORY


class DiskGone(Exception):
    pass


@pytest.mark.object_storage
def test_a_write_that_fails_half_way_or_fails_its_check_leaves_no_object(use_object_storage, object_gateway):
    bucket = use_object_storage()

    def half_then_fail(file):
        file.write(b"\0" * 100_000)
        raise DiskGone

    def refuse(file):
        raise ValueError("not what was meant")

    with pytest.raises(DiskGone):
        blobs.write_atomically("dicom/1/half.dcm", half_then_fail)
    with pytest.raises(ValueError):
        blobs.write_atomically("dicom/1/refused.dcm", lambda file: file.write(b"abc"), check=refuse)

    assert object_gateway.client().list_objects_v2(Bucket=bucket)["KeyCount"] == 0


@pytest.mark.object_storage
def test_ranges_chunks_listings_and_deletion_read_what_was_written(use_object_storage):
    use_object_storage()
    content = bytes(range(256)) * 4096  # 1 MiB
    size, checked = blobs.write_atomically("exports/p/1/a.bin", lambda file: file.write(content),
                                           check=lambda file: file.read(4))
    blobs.write_atomically("exports/p/1/b.bin", lambda file: file.write(b"b"))
    blobs.write_atomically("exports/p/10/c.bin", lambda file: file.write(b"c"))

    ranges = [(900_000, 10), (5, 3), (5, 0), (400_000, 1000)]  # apart, out of order, empty
    parts = blobs.read_ranges("exports/p/1/a.bin", ranges)
    with blobs.open_reader("exports/p/1/a.bin") as reader:
        reader.seek(-6, os.SEEK_END)
        tail = reader.read()
    listed = blobs.list_names("exports/p/1/")
    blobs.delete_prefix("exports/p/1/")

    assert (size, checked) == (len(content), content[:4])
    assert parts == [content[offset: offset + length] for offset, length in ranges]
    assert b"".join(blobs.iter_chunks("exports/p/10/c.bin")) == b"c" and tail == content[-6:]
    assert listed == ["exports/p/1/a.bin", "exports/p/1/b.bin"]
    assert blobs.list_names("exports/p/") == ["exports/p/10/c.bin"]
    with pytest.raises(FileNotFoundError):
        blobs.read_ranges("exports/p/1/a.bin", [(0, 1)])


@pytest.mark.object_storage
def test_readiness_writes_to_the_bucket_and_fails_without_it(use_object_storage, object_gateway, settings):
    use_object_storage()
    check_storage()
    assert object_gateway.client().list_objects_v2(Bucket=settings.STORAGES["data"]["OPTIONS"]["bucket_name"]
                                                   )["KeyCount"] == 0  # the probe is removed

    settings.STORAGES = {**settings.STORAGES, "data": {**settings.STORAGES["data"], "OPTIONS": {
        **settings.STORAGES["data"]["OPTIONS"], "bucket_name": "no-such-bucket"}}}
    with pytest.raises(Exception, match="NoSuchBucket"):
        check_storage()


def settings_with(**environment: str) -> subprocess.CompletedProcess:
    code = "from cardiocrowd import settings; print(settings.STORAGES['data'])"
    variables = {**{key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "CARDIOCROWD_"))},
                 "DJANGO_SECRET_KEY": "x", "DATABASE_URL": "postgres://localhost/x", **environment}
    return subprocess.run([sys.executable, "-c", code], cwd=REPOSITORY, env=variables, capture_output=True,
                          text=True)


@pytest.mark.parametrize(("environment", "expected"), [
    ({}, "cardiocrowd.blobs.DataFolderStorage"),
    ({"CARDIOCROWD_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": "dicom"}, "'bucket_name': 'dicom'"),
    ({"CARDIOCROWD_STORAGE": "s3"}, "AWS_STORAGE_BUCKET_NAME must be set when CARDIOCROWD_STORAGE is s3"),
    ({"CARDIOCROWD_STORAGE": "gcs"}, "CARDIOCROWD_STORAGE is 'gcs': filesystem or s3"),
])
def test_the_storage_is_chosen_by_cardiocrowd_storage(environment, expected):
    result = settings_with(**environment)

    assert expected in result.stdout + result.stderr
    assert (result.returncode == 0) == ("must be set" not in expected and "gcs" not in expected)
