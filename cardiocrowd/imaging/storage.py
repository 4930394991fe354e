"""Where de-identified instances and upload staging live on disk.

`dicom/` is the crowd-facing store and only ever receives de-identified files; `staging/`
holds uploads until their import job has read them, and is deleted then.
"""
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from django.conf import settings


def data_dir() -> Path:
    return Path(settings.CARDIOCROWD_DATA_DIR)


def instance_path(relative_path: str) -> Path:
    return data_dir() / "dicom" / relative_path


def relative_instance_path(project_id: int, study_uid: str, series_uid: str, sop_uid: str) -> str:
    return f"{project_id}/{study_uid}/{series_uid}/{sop_uid}.dcm"


def write_atomically(path: Path, write) -> int:
    """Write through a temporary file and rename, so a crash never leaves half a file. Returns size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path.stat().st_size


def new_staging_dir() -> Path:
    path = data_dir() / "staging" / uuid.uuid4().hex
    path.mkdir(parents=True)
    return path


def remove_staging_dir(path: str | Path) -> None:
    path = Path(path)
    if path.is_relative_to(data_dir() / "staging"):
        shutil.rmtree(path, ignore_errors=True)
