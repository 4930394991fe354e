"""What counts as identifying in a source file, for the sweeps that check none of it is served."""
from __future__ import annotations

import re
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from cardiocrowd.imaging.deid import TAG_ACTIONS

# Values too generic to prove a leak (they appear in de-identified data for other reasons).
NOT_IDENTIFYING = {"ANONYMIZED", "ANONYMOUS", "UNKNOWN", "NONE", "YES", "NO"}
TEXT_VRS = {"PN", "LO", "SH", "ST", "LT", "UT", "UC", "DA", "DT", "UI", "AE", "CS"}


def dates_of(dataset: Dataset) -> set[str]:
    """Every date (DA, and the date part of DT) at every depth."""
    return {str(value)[:8] for element in dataset.iterall() if element.VR in ("DA", "DT") and element.value
            for value in (element.value if element.VM > 1 else [element.value])}


def identifying_values(*paths: Path, min_length: int = 4, dates: bool = True) -> set[str]:
    """Every textual value of an Annex E attribute or a private element, at every depth, less the
    values that the file also carries in attributes the profile keeps (a code meaning such as
    "ECHOCARDIOGRAM" that is also a study description identifies nobody)."""
    values: set[str] = set()
    kept: set[str] = set()

    def visit(dataset: Dataset) -> None:
        for element in dataset:
            if element.VR == "SQ":
                for item in element.value:
                    visit(item)
                continue
            listed = int(element.tag) in TAG_ACTIONS
            private_creator = element.tag.is_private and element.tag.element < 0x0100  # a vendor's name
            if element.VR not in TEXT_VRS or element.value in (None, "") or private_creator:
                continue
            if not dates and element.VR in ("DA", "DT"):
                continue
            if not (listed or element.tag.is_private):
                raw = element.value if element.VM > 1 else [element.value]
                kept.update(str(value).strip() for value in raw)
                continue
            raw = element.value if element.VM > 1 else [element.value]
            for value in raw:
                # name components count on their own: "Citizen" alone still identifies
                words = str(value).replace("^", " ").split() if element.VR == "PN" else []
                for text in {str(value).strip(), *words}:
                    if len(text) >= min_length and text.upper() not in NOT_IDENTIFYING:
                        values.add(text)

    for path in paths:
        visit(pydicom.dcmread(path))
    kept_text = "\n".join(kept).upper()
    return {value for value in values if value.upper() not in kept_text}


def leaks(blob: bytes, values: set[str]) -> set[str]:
    """Values found in `blob`: long ones anywhere, short ones (< 6 characters) only as a whole token,
    since "0010" inside some longer number proves nothing."""
    found = set()
    for value in values:
        encoded = value.encode()
        if len(value) >= 6:
            if encoded in blob:
                found.add(value)
        elif re.search(rb"(?<![A-Za-z0-9.])" + re.escape(encoded) + rb"(?![A-Za-z0-9.])", blob):
            found.add(value)
    return found
