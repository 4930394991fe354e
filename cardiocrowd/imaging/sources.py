"""Where instances come from: files, folders and zips on this server, or a DICOMweb server.

Files yield `FileRef`s and DICOMweb series yield `Candidate`s; both have a `reference` and a
`load()` that returns a checked pydicom Dataset or raises InvalidDicom. A source that cannot
be read at all raises SourceUnavailable.
"""
from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset

from .validation import InvalidDicom, read_part10


class SourceUnavailable(Exception):
    """The source as a whole cannot be read (missing path, unreachable or failing server)."""


class UnsafeArchive(InvalidDicom):
    """A zip that would write outside its folder or expand beyond the limit."""


@dataclass
class Candidate:
    reference: str
    load: Callable[[], Dataset]


# --- files, folders and zips -------------------------------------------------------------------


def check_zip_members(archive: zipfile.ZipFile, archive_name: str, max_bytes: int) -> list[zipfile.ZipInfo]:
    """Regular members of a zip, after refusing path traversal and zip bombs. Raises UnsafeArchive."""
    members, expanded = [], 0
    for info in archive.infolist():
        name = PurePosixPath(info.filename.replace("\\", "/"))
        if name.is_absolute() or ".." in name.parts or (name.parts and ":" in name.parts[0]):
            raise UnsafeArchive(f"{archive_name}: member {info.filename!r} escapes the archive (path traversal)")
        if info.is_dir():
            continue
        expanded += info.file_size
        if expanded > max_bytes:
            raise UnsafeArchive(f"{archive_name}: expands beyond the {max_bytes} byte upload limit")
        members.append(info)
    return members


def is_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip" and zipfile.is_zipfile(path)


@dataclass(frozen=True)
class FileRef:
    """One instance on this server: a file, or a member of a zip. Serializable into a task."""

    path: str
    member: str | None
    reference: str  # what a person sees in progress and problems

    def load(self) -> Dataset:
        if self.member is None:
            return read_part10(self.path)
        with zipfile.ZipFile(self.path) as archive:
            return read_part10(archive.read(self.member))


def list_files(paths: list[str | Path], max_zip_bytes: int) -> list[FileRef]:
    """Every file under `paths` (folders recursively, zips by member). Raises SourceUnavailable, UnsafeArchive."""
    refs: list[FileRef] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for folder, subfolders, names in os.walk(path):
                subfolders.sort()
                for name in sorted(names):
                    if not name.startswith(".") and name.upper() != "DICOMDIR":
                        refs.extend(_file_refs(Path(folder) / name, max_zip_bytes, path))
        elif path.is_file():
            refs.extend(_file_refs(path, max_zip_bytes, path.parent))
        else:
            raise SourceUnavailable(f"no such file or folder: {raw}")
    return refs


def _file_refs(path: Path, max_zip_bytes: int, root: Path) -> list[FileRef]:
    reference = str(path.relative_to(root))
    if not is_zip(path):
        return [FileRef(str(path), None, reference)]
    with zipfile.ZipFile(path) as archive:
        members = check_zip_members(archive, reference, max_zip_bytes)
    return [FileRef(str(path), member.filename, f"{reference}:{member.filename}") for member in members]


# --- DICOMweb ------------------------------------------------------------------------------------

STORED_TRANSFER_SYNTAX = (("application/dicom", "*"),)  # ask for the stored syntax: keep compression
NUMBER_OF_SERIES_RELATED_INSTANCES = "00201209"
STUDY_INSTANCE_UID, SERIES_INSTANCE_UID, SOP_INSTANCE_UID = "0020000D", "0020000E", "00080018"


class PatientSession(requests.Session):
    """A session whose requests give up on a silent server: 10 s to connect, 5 min to answer."""

    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", (10, 300))
        return super().request(*args, **kwargs)


def dicomweb_client(*, url: str, auth: str = "none", username: str = "", secret: str = "") -> DICOMwebClient:
    session = PatientSession()
    if auth == "basic":
        session.auth = (username, secret)
    elif auth == "bearer":
        session.headers["Authorization"] = f"Bearer {secret}"
    client = DICOMwebClient(url=url, session=session)
    # Ride out a brief outage (3 attempts, 0.2 s then 0.4 s apart), but fail a dead source in about a second.
    client.set_http_retry_params(retry=True, max_attempts=3, wait_exponential_multiplier=100)
    return client


def _first(attributes: dict, tag: str, default=None):
    values = attributes.get(tag, {}).get("Value") or []
    return values[0] if values else default


def _source_call(url: str, call: Callable):
    try:
        return call()
    except requests.exceptions.ConnectionError as error:
        raise SourceUnavailable(f"DICOMweb source {url} is unreachable: {error.__class__.__name__}") from None
    except requests.exceptions.Timeout:
        raise SourceUnavailable(f"DICOMweb source {url} timed out") from None
    except requests.exceptions.HTTPError as error:
        status = error.response.status_code if error.response is not None else "an error"
        raise SourceUnavailable(f"DICOMweb source {url} answered {status}: {error}") from None


def plan_dicomweb(
    client: DICOMwebClient, *, study_uids: list[str], query: dict[str, str] | None, instances_per_part: int
) -> list[tuple[str, str, list[str] | None, int]]:
    """What to pull, from study UIDs or a QIDO-RS study query: (study, series, SOP UIDs, count).

    A series of up to `instances_per_part` instances is one part, pulled in one request (SOP UIDs
    None); a larger one is split by instance so that several workers can pull it in parallel."""
    url = client.base_url
    if not study_uids:
        studies = _source_call(url, lambda: client.search_for_studies(search_filters=query or {}))
        study_uids = [_first(study, STUDY_INSTANCE_UID) for study in studies]
    plan = []
    for study_uid in study_uids:
        series = _source_call(url, lambda: client.search_for_series(study_instance_uid=study_uid))
        if not series:
            raise SourceUnavailable(f"DICOMweb source {url} has no study {study_uid}")
        for attributes in series:
            series_uid = _first(attributes, SERIES_INSTANCE_UID)
            count = int(_first(attributes, NUMBER_OF_SERIES_RELATED_INSTANCES, 0) or 0)
            if count <= instances_per_part:
                plan.append((study_uid, series_uid, None, count))
                continue
            instances = _source_call(url, lambda: client.search_for_instances(
                study_instance_uid=study_uid, series_instance_uid=series_uid, fields=["00080018"]))
            sop_uids = [_first(instance, SOP_INSTANCE_UID) for instance in instances]
            for start in range(0, len(sop_uids), instances_per_part):
                part = sop_uids[start: start + instances_per_part]
                plan.append((study_uid, series_uid, part, len(part)))
    return plan


def iter_dicomweb_series(client: DICOMwebClient, study_uid: str, series_uid: str,
                         sop_uids: list[str] | None = None) -> Iterator[Candidate]:
    """Stream one series (one multipart WADO-RS request, stored transfer syntax), instance by
    instance, so a large series never sits in memory whole. With `sop_uids`, only those instances
    are parsed: the parts of a large series shared between workers each skip the others' share
    (on a PACS, one series request costs far less than one request per instance). Raises
    SourceUnavailable."""
    url = f"{client.base_url}/studies/{study_uid}/series/{series_uid}"
    # dicomweb-client's retrieve parses every part; its (private, pinned <1) reader yields them raw.
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    response = _source_call(client.base_url, lambda: client._http_get(url, headers={"Accept": accept}, stream=True))
    parts = client._decode_multipart_message(response, stream=True)
    wanted = set(sop_uids) if sop_uids else None
    position = 0
    while (part := _source_call(client.base_url, lambda: next(parts, None))) is not None:
        position += 1
        if wanted is not None and _sop_instance_uid(part) not in wanted:
            continue
        yield Candidate(f"series {series_uid} #{position}", lambda part=part: read_part10(part))


def _sop_instance_uid(part: bytes) -> str | None:
    try:
        header = pydicom.dcmread(io.BytesIO(part), stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
        return str(header.get("SOPInstanceUID", "")) or None
    except Exception:  # an unreadable part is for whichever chunk owns it to refuse
        return None
