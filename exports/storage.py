"""Where export files live and how a version is published, in the data storage (cardiocrowd/blobs.py).

Local data folder: a version's files are built whole in a hidden temporary folder beside it, then
renamed into place in one step, so nothing half-written is ever under a version's name.

Object storage has no folders to rename: each file goes straight under its version's name in one
PUT, which S3 makes visible only once complete. A version is served only after its files are
recorded (exports/services.py), so a build that dies half-way is never seen, and the next run of
that version deletes what it left before it writes anything.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from cardiocrowd import blobs

READ_ONLY = 0o444


@dataclass(frozen=True)
class WrittenFile:
    name: str
    size: int
    sha256: str


class Build(Protocol):
    """One run's files of a version, published together."""

    def write_file(self, name: str, content: bytes) -> WrittenFile: ...

    def publish(self) -> None: ...


def export_folder(project_slug: str, version: int) -> str:
    """The version's folder, relative to the data storage."""
    return f"exports/{project_slug}/{version}"


def new_build(folder: str) -> Build:
    final = blobs.local_path(folder)
    return FolderBuild(folder, final) if final is not None else ObjectBuild(folder)


def remove_leftovers(folder: str, *, including_published: bool) -> None:
    """Temporary folders of earlier runs of this version (only one run holds the version's build
    lock, so none of them is still being written), and its published files when asked."""
    final = blobs.local_path(folder)
    if final is None:
        if including_published:  # object storage: a run's files are written under the version's name
            blobs.delete_prefix(f"{folder}/")
        return
    if not final.parent.is_dir():
        return
    for path in final.parent.glob(f".build-{final.name}-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in final.parent.glob(f".trash-{final.name}-*"):
        shutil.rmtree(path, ignore_errors=True)
    if including_published:
        shutil.rmtree(final, ignore_errors=True)


class FolderBuild:
    """A build in a hidden folder beside the version's, renamed into place when finished."""

    def __init__(self, folder: str, final: Path) -> None:
        self.final = final
        final.parent.mkdir(parents=True, exist_ok=True)
        self.directory = final.with_name(f".build-{final.name}-{uuid.uuid4().hex}")
        self.directory.mkdir()

    def write_file(self, name: str, content: bytes) -> WrittenFile:
        """Write, flush to disk and make read-only; return the name, size and sha256."""
        path = self.directory / name
        with open(path, "xb") as file:  # "x": a name written twice in one build is a bug, not an overwrite
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        path.chmod(READ_ONLY)
        return WrittenFile(name=name, size=len(content), sha256=hashlib.sha256(content).hexdigest())

    def publish(self) -> None:
        """Move the finished build to its version's name. A folder already there is what a run that
        died after publishing but before recording left; no one was ever served from it (files are
        served only once recorded), so it is swapped out."""
        _sync_directory(self.directory)
        if self.final.exists():
            trash = self.final.with_name(f".trash-{self.final.name}-{uuid.uuid4().hex}")
            os.rename(self.final, trash)
            os.rename(self.directory, self.final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(self.directory, self.final)
        _sync_directory(self.final.parent)


class ObjectBuild:
    """A build written object by object under the version's name in object storage."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.names: set[str] = set()

    def write_file(self, name: str, content: bytes) -> WrittenFile:
        if name in self.names:
            raise FileExistsError(f"{name} written twice in one build")  # a bug, not an overwrite
        self.names.add(name)
        blobs.write_atomically(f"{self.folder}/{name}", lambda file: file.write(content))
        return WrittenFile(name=name, size=len(content), sha256=hashlib.sha256(content).hexdigest())

    def publish(self) -> None:
        """Nothing to move: the files are in place, and the version is published when recorded."""


def _sync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def open_file(folder: str, name: str) -> BinaryIO:
    """A published file, opened for reading (and reading again). Raises FileNotFoundError."""
    return blobs.open_whole(f"{folder}/{name}")


def size_and_sha256(file: BinaryIO) -> tuple[int, str]:
    """Bytes read from the file's position to its end, and their sha256."""
    digest, size = hashlib.sha256(), 0
    for block in iter(lambda: file.read(1024 * 1024), b""):
        digest.update(block)
        size += len(block)
    return size, digest.hexdigest()
