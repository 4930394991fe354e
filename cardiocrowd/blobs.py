"""The platform's stored objects: de-identified DICOM (dicom/), exports (exports/) and model
checkpoints (models/), under the Django storage named "data" (settings.STORAGES).

By default that storage is the local data folder (CARDIOCROWD_DATA_DIR); with CARDIOCROWD_STORAGE=s3
it is a bucket of S3-compatible object storage (django-storages), so that web replicas and worker
pools on different machines see the same objects. Names are '/'-separated and relative in both.

Why not only Storage.open(): S3Storage.open() downloads the whole object before the first byte is
read, and a frame is a few KiB of a cine of many MiB. Reads here fetch only the byte ranges asked
for (GetObject with a Range header); from the local folder they are plain seeks, as before.
"""
from __future__ import annotations

import errno
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TypeVar

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.utils.functional import cached_property

STORAGE_ALIAS = "data"
# Ranges of one read that lie closer together than this are fetched with one request: a request
# costs more than the bytes between them.
RANGE_MERGE_GAP = 256 * 1024
# A reader over an object in object storage (pydicom parsing a header, decoding a frame) fetches
# this many bytes a request at least.
READ_BLOCK = 256 * 1024
# An object bound for object storage is assembled locally first (in memory up to this size, then in
# a temporary file), so that it is checked before it is sent and sent in one atomic PUT.
SPOOL_IN_MEMORY = 32 * 1024 * 1024
MISSING_OBJECT_CODES = {"404", "NoSuchKey", "NotFound"}

T = TypeVar("T")


class DataFolderStorage(FileSystemStorage):
    """The local data folder: CARDIOCROWD_DATA_DIR unless the storage's OPTIONS name a location, and
    followed when the setting changes (each test has a folder of its own)."""

    @cached_property
    def base_location(self) -> str:
        return self._value_or_setting(self._location, str(settings.CARDIOCROWD_DATA_DIR))

    def _clear_cached_properties(self, setting: str, **kwargs) -> None:
        super()._clear_cached_properties(setting, **kwargs)
        if setting == "CARDIOCROWD_DATA_DIR":
            self.__dict__.pop("base_location", None)
            self.__dict__.pop("location", None)


def data_storage() -> Storage:
    return storages[STORAGE_ALIAS]


def local_path(name: str) -> Path | None:
    """The object's file where the store is a local folder, else None."""
    storage = data_storage()
    return Path(storage.path(name)) if isinstance(storage, FileSystemStorage) else None


def is_local() -> bool:
    return isinstance(data_storage(), FileSystemStorage)


# --- writing ---------------------------------------------------------------------------------------


def write_atomically(name: str, write: Callable[[BinaryIO], None], *,
                     check: Callable[[BinaryIO], T] | None = None, flush_to_disk: bool = False
                     ) -> tuple[int, T | None]:
    """Store an object whole or not at all. `write` fills a local temporary file; `check`, if
    given, reads it back (from its start) before it is published, and whatever either raises leaves
    nothing under `name`. Local folder: a temporary file beside it renamed over it (`flush_to_disk`
    syncs it first, for what must survive a power cut); object storage: one PUT, which S3 makes
    visible only when complete. Returns the size and what `check` returned."""
    storage = data_storage()
    if isinstance(storage, FileSystemStorage):
        return _write_file_atomically(Path(storage.path(name)), write, check, flush_to_disk)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        write(spool)
        size = spool.tell()
        spool.seek(0)
        checked = check(spool) if check is not None else None
        spool.seek(0)
        storage.save(name, File(spool, name=name))
    return size, checked


def _write_file_atomically(path: Path, write: Callable[[BinaryIO], None], check: Callable[[BinaryIO], T] | None,
                           flush_to_disk: bool) -> tuple[int, T | None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "w+b") as file:
            write(file)
            file.flush()
            size = file.tell()
            file.seek(0)
            checked = check(file) if check is not None else None
            if flush_to_disk:
                os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return size, checked


# --- reading ---------------------------------------------------------------------------------------


def read_ranges(name: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """The bytes at each (offset, length) of the object, in the order given. Raises
    FileNotFoundError."""
    storage = data_storage()
    if isinstance(storage, FileSystemStorage):
        with open(storage.path(name), "rb") as file:
            parts = []
            for offset, length in ranges:
                file.seek(offset)
                parts.append(file.read(length))
            return parts
    client, bucket, key = _s3_object(storage, name)
    parts: list[bytes] = [b""] * len(ranges)
    for start, end, members in _merged_spans(ranges):
        span = _get_range(client, bucket, key, start, end, name)
        for position in members:
            offset, length = ranges[position]
            parts[position] = span[offset - start: offset - start + length]
    return parts


def _merged_spans(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int, list[int]]]:
    """(start, end exclusive, positions of the ranges inside) of the spans to fetch: ranges sorted
    by offset, joined where the gap between them is under RANGE_MERGE_GAP."""
    spans: list[tuple[int, int, list[int]]] = []
    for position in sorted(range(len(ranges)), key=lambda index: ranges[index][0]):
        offset, length = ranges[position]
        if spans and offset - spans[-1][1] < RANGE_MERGE_GAP:
            start, end, members = spans[-1]
            spans[-1] = (start, max(end, offset + length), [*members, position])
        else:
            spans.append((offset, offset + length, [position]))
    return spans


@contextmanager
def open_reader(name: str) -> Iterator[BinaryIO]:
    """A seekable, read-only handle on the object for parsers (pydicom) that read here and there:
    the file itself from a local folder; from object storage, ranged GETs of READ_BLOCK bytes or
    more, so a header or one frame costs a few requests and never the whole object. Raises
    FileNotFoundError."""
    storage = data_storage()
    if isinstance(storage, FileSystemStorage):
        with open(storage.path(name), "rb") as file:
            yield file
        return
    client, bucket, key = _s3_object(storage, name)
    with _object_errors(name):
        size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
    with io.BufferedReader(_RangedObject(client, bucket, key, size, name), buffer_size=READ_BLOCK) as reader:
        yield reader


def open_whole(name: str) -> BinaryIO:
    """A handle for reading the whole object, perhaps more than once (a checksum, then the response):
    the file itself from a local folder, else a local temporary copy made with one download. The
    caller closes it. Raises FileNotFoundError."""
    storage = data_storage()
    if isinstance(storage, FileSystemStorage):
        return open(storage.path(name), "rb")
    client, bucket, key = _s3_object(storage, name)
    copy = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    try:
        with _object_errors(name):
            client.download_fileobj(bucket, key, copy)
    except BaseException:
        copy.close()
        raise
    copy.seek(0)
    return copy


def iter_chunks(name: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """The object's bytes, streamed in chunks. Raises FileNotFoundError."""
    storage = data_storage()
    if isinstance(storage, FileSystemStorage):
        with open(storage.path(name), "rb") as file:
            while chunk := file.read(chunk_size):
                yield chunk
        return
    client, bucket, key = _s3_object(storage, name)
    with _object_errors(name):
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        yield from body.iter_chunks(chunk_size)
    finally:
        body.close()


# --- listing and removing --------------------------------------------------------------------------


def list_names(prefix: str) -> list[str]:
    """Names of the objects under `prefix` ('a/b/'), at any depth, sorted."""
    storage = data_storage()
    if isinstance(storage, FileSystemStorage):
        root = Path(storage.location)
        folder = Path(storage.path(prefix))
        return sorted(path.relative_to(root).as_posix() for path in folder.rglob("*") if path.is_file())
    client, bucket, key = _s3_object(storage, prefix)
    names = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        names += [entry["Key"] for entry in page.get("Contents", ())]
    return sorted(names)


def delete(name: str) -> None:
    """Remove the object; one that is not there is no error."""
    data_storage().delete(name)


def delete_prefix(prefix: str) -> None:
    """Remove every object under `prefix` ('a/b/')."""
    storage = data_storage()
    if isinstance(storage, FileSystemStorage):
        shutil.rmtree(storage.path(prefix), ignore_errors=True)
        return
    client, bucket, _ = _s3_object(storage, prefix)
    names = list_names(prefix)
    for start in range(0, len(names), 1000):  # DeleteObjects takes at most 1000 keys
        client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in names[start: start + 1000]],
                                                     "Quiet": True})


# --- object storage --------------------------------------------------------------------------------


def _s3_object(storage: Storage, name: str) -> tuple:
    """The boto3 client of the storage's thread, its bucket and the object's key. The key is the
    one django-storages itself uses (its name check refuses names that climb out with '..')."""
    from storages.utils import clean_name

    return storage.connection.meta.client, storage.bucket_name, storage._normalize_name(clean_name(name))


@contextmanager
def _object_errors(name: str) -> Iterator[None]:
    """A missing object raises FileNotFoundError, as a missing file does."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code")) in MISSING_OBJECT_CODES:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name) from error
        raise


def _get_range(client, bucket: str, key: str, start: int, end: int, name: str) -> bytes:
    if end <= start:
        return b""
    with _object_errors(name):
        response = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}")
    return response["Body"].read()


class _RangedObject(io.RawIOBase):
    """A seekable, read-only view of one stored object that fetches only what is read."""

    def __init__(self, client, bucket: str, key: str, size: int, name: str) -> None:
        super().__init__()
        self.client, self.bucket, self.key, self.size, self.name = client, bucket, key, size, name
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        origin = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(origin + offset, 0)
        return self.position

    def readinto(self, buffer) -> int:
        end = min(self.position + len(buffer), self.size)
        data = _get_range(self.client, self.bucket, self.key, self.position, end, self.name)
        buffer[:len(data)] = data
        self.position += len(data)
        return len(data)
