"""What the DICOM SEG and SR writers of an export share. Pure module: no Django, no database."""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import highdicom as hd
from pydicom import Dataset

PRIVATE_SCHEME = "99CARDIOCROWD"  # a local coding scheme (PS3.16 8.2: '99' designators are private)


@dataclass(frozen=True)
class Producer:
    """Who writes the objects (the Enhanced General Equipment module) and the seed of their UIDs."""

    uid_seed: str  # unique per export: the same export always gets the same UIDs, another export others
    manufacturer: str = "CardioCrowd"
    model: str = "CardioCrowd export"
    software_version: str = "0"
    device_serial_number: str = "0"

    def uid(self, *parts: object) -> str:
        """A 2.25 UID from the seed and `parts`, so a rebuild of the same export names its objects
        the same way (nothing half-built is ever published under other names)."""
        digest = hashlib.sha256("\x1f".join(map(str, (self.uid_seed, *parts))).encode()).digest()
        return f"2.25.{uuid.UUID(bytes=digest[:16], version=4).int}"


# Reads the stored de-identified file of an instance by its SOP Instance UID (header only).
SourceReader = Callable[[str], Dataset]


def concept(field: dict) -> hd.sr.CodedConcept:
    """What a schema field names: its `code` ({"value", "scheme", "meaning"}) where the admin gave
    one (e.g. LOINC 10230-1 for LVEF), else a code of the local scheme with the field's label."""
    code = field.get("code")
    if isinstance(code, dict) and code.get("value") and code.get("scheme") and code.get("meaning"):
        return hd.sr.CodedConcept(str(code["value"]), str(code["scheme"]), str(code["meaning"])[:64])
    return hd.sr.CodedConcept(field["key"], PRIVATE_SCHEME, (field.get("label") or field["key"])[:64])


def frame_count(source: Dataset) -> int:
    return int(source.get("NumberOfFrames") or 1)


def is_multiframe(source: Dataset) -> bool:
    """A source image that has frames to name: a reference into it carries the frame number."""
    return "NumberOfFrames" in source


# Type 2 attributes the SEG and SR copy from their source: present in every valid image, but a
# de-identified file may have lost one (a date that was not a date is removed, not emptied).
TYPE_2_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                 "ReferringPhysicianName", "AccessionNumber", "StudyID")


def complete_header(source: Dataset) -> Dataset:
    """Add, in place, any Type 2 attribute the SEG and SR copy that the source lacks, empty (so
    nothing that identifies anyone is added); returns the source."""
    for keyword in TYPE_2_COPIED:
        if keyword not in source:
            setattr(source, keyword, "")
    return source
