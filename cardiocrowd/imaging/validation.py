"""Reading a Part-10 file and refusing bad input with a reason a person can act on. Pure module."""
from __future__ import annotations

import io
import struct
import warnings
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

REQUIRED_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


class InvalidDicom(ValueError):
    """The input is not a usable DICOM instance; the message says why."""


def read_part10(source: str | bytes | bytearray | BinaryIO) -> Dataset:
    """Read and check one Part-10 instance. Raises InvalidDicom naming the problem."""
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            dataset = pydicom.dcmread(source)
        except InvalidDicomError:
            raise InvalidDicom("not a DICOM Part-10 file (no 'DICM' preamble and file meta header)") from None
        except (EOFError, OSError, ValueError, TypeError, KeyError, struct.error) as error:
            raise InvalidDicom(f"unreadable DICOM: {error}") from None
    for warning in caught:
        message = str(warning.message)
        if "End of file reached" in message or "truncated" in message.lower():
            raise InvalidDicom("truncated file: the data ends before the pixel data is complete")
    check_dataset(dataset)
    return dataset


def check_dataset(dataset: Dataset) -> None:
    """The checks every ingest path applies, files and DICOMweb alike. Raises InvalidDicom."""
    meta = getattr(dataset, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        raise InvalidDicom("file meta header has no TransferSyntaxUID")
    for keyword in REQUIRED_UIDS:
        if not str(dataset.get(keyword, "") or "").strip():
            raise InvalidDicom(f"missing {keyword}")
    if "PixelData" in dataset and not meta.TransferSyntaxUID.is_encapsulated:
        expected = native_pixel_bytes(dataset)
        actual = len(dataset.PixelData)
        if actual < expected:
            raise InvalidDicom(f"truncated file: pixel data holds {actual} of {expected} bytes")


def native_pixel_bytes(dataset: Dataset) -> int:
    try:
        bits = (int(dataset.Rows) * int(dataset.Columns) * int(dataset.get("SamplesPerPixel", 1))
                * int(dataset.BitsAllocated) * int(dataset.get("NumberOfFrames") or 1))
    except (AttributeError, TypeError, ValueError):
        raise InvalidDicom("pixel data without Rows, Columns or BitsAllocated") from None
    return (bits + 7) // 8
