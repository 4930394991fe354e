"""Where export files live and how a version folder is published: built whole in a hidden
temporary folder beside it, then renamed into place in one step, so nothing half-written is ever
under a version's name."""
from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

READ_ONLY = 0o444


@dataclass(frozen=True)
class WrittenFile:
    name: str
    size: int
    sha256: str


def data_dir() -> Path:
    return Path(settings.CARDIOCROWD_DATA_DIR)


def export_folder(project_slug: str, version: int) -> str:
    """The version's folder, relative to the data folder."""
    return f"exports/{project_slug}/{version}"


def new_build_dir(folder: str) -> Path:
    final = data_dir() / folder
    final.parent.mkdir(parents=True, exist_ok=True)
    build = final.with_name(f".build-{final.name}-{uuid.uuid4().hex}")
    build.mkdir()
    return build


def remove_leftovers(folder: str, *, including_published: bool) -> None:
    """Temporary folders of earlier runs of this version (only one run holds the version's build
    lock, so none of them is still being written), and its published folder when asked."""
    final = data_dir() / folder
    if not final.parent.is_dir():
        return
    for path in final.parent.glob(f".build-{final.name}-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in final.parent.glob(f".trash-{final.name}-*"):
        shutil.rmtree(path, ignore_errors=True)
    if including_published:
        shutil.rmtree(final, ignore_errors=True)


def write_file(directory: Path, name: str, content: bytes) -> WrittenFile:
    """Write, flush to disk and make read-only; return the name, size and sha256."""
    path = directory / name
    with open(path, "xb") as file:  # "x": a name written twice in one build is a bug, not an overwrite
        file.write(content)
        file.flush()
        os.fsync(file.fileno())
    path.chmod(READ_ONLY)
    return WrittenFile(name=name, size=len(content), sha256=hashlib.sha256(content).hexdigest())


def publish(build: Path, folder: str) -> None:
    """Move a finished build to its version's name. A folder already there is what a run that died
    after publishing but before recording left; no one was ever served from it (files are served
    only once recorded), so it is swapped out."""
    final = data_dir() / folder
    _sync_directory(build)
    if final.exists():
        trash = final.with_name(f".trash-{final.name}-{uuid.uuid4().hex}")
        os.rename(final, trash)
        os.rename(build, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(build, final)
    _sync_directory(final.parent)


def _sync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def file_path(folder: str, name: str) -> Path:
    return data_dir() / folder / name


def size_and_sha256(file: BinaryIO) -> tuple[int, str]:
    """Bytes read from the file's position to its end, and their sha256."""
    digest, size = hashlib.sha256(), 0
    for block in iter(lambda: file.read(1024 * 1024), b""):
        digest.update(block)
        size += len(block)
    return size, digest.hexdigest()
