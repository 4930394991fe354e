"""Where de-identified instances and upload staging live.

Instances are objects of the data storage (cardiocrowd/blobs.py) under `dicom/`, the crowd-facing
store, which only ever receives de-identified files: the local data folder, or object storage that
every replica shares. `staging/` holds uploads until their import job has read them, and is
deleted then; it is always in the local data folder (CARDIOCROWD_DATA_DIR), which the web process
that receives an upload and the worker that imports it must therefore share (docs/operations.md).
"""
import shutil
import uuid
from pathlib import Path

from django.conf import settings

from cardiocrowd import blobs


def data_dir() -> Path:
    return Path(settings.CARDIOCROWD_DATA_DIR)


def instance_name(relative_path: str) -> str:
    """The instance's object name in the data storage."""
    return f"dicom/{relative_path}"


def instance_path(relative_path: str) -> Path | None:
    """The instance's file where the data storage is the local folder (tools and tests that look at
    the folder), else None."""
    return blobs.local_path(instance_name(relative_path))


def relative_instance_path(project_id: int, study_uid: str, series_uid: str, sop_uid: str) -> str:
    return f"{project_id}/{study_uid}/{series_uid}/{sop_uid}.dcm"


def new_staging_dir() -> Path:
    path = data_dir() / "staging" / uuid.uuid4().hex
    path.mkdir(parents=True)
    return path


def remove_staging_dir(path: str | Path) -> None:
    path = Path(path)
    if path.is_relative_to(data_dir() / "staging"):
        shutil.rmtree(path, ignore_errors=True)
