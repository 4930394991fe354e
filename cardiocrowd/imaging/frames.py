"""Byte ranges of each frame in a stored Part-10 file, so that frame N is served with one seek.

Pure module (pydicom and the standard library only). The index is built once at ingest from
the file as written; serving then reads `index.ranges(n)` and never parses the file again, so
the cost of a frame does not depend on N or on the size of the file.

Packed layout (little-endian int64): [frame_count, fragment_count,
frame_starts[frame_count + 1], fragment_offsets[fragment_count], fragment_lengths[fragment_count]];
frame n is fragments frame_starts[n] .. frame_starts[n + 1] - 1. Native (uncompressed) pixel
data has one "fragment" per frame.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

import pydicom
from pydicom.tag import Tag

PIXEL_DATA = Tag(0x7FE0, 0x0010)
EXTENDED_OFFSET_TABLE = Tag(0x7FE0, 0x0001)
ITEM = (0xFFFE, 0xE000)
SEQUENCE_DELIMITER = (0xFFFE, 0xE0DD)
UNDEFINED_LENGTH = 0xFFFFFFFF
# A fragment that opens with one of these markers starts a new frame (JPEG, JPEG-LS; J2K codestream).
FRAME_START_MARKERS = (b"\xff\xd8", b"\xff\x4f\xff\x51")


class FrameIndexError(ValueError):
    """The pixel data's frames cannot be located; the instance cannot be served frame by frame."""


@dataclass(frozen=True)
class FrameIndex:
    packed: bytes

    @property
    def frame_count(self) -> int:
        return struct.unpack_from("<q", self.packed, 0)[0] if self.packed else 0

    def ranges(self, frame_number: int) -> list[tuple[int, int]]:
        """(offset, length) of each fragment of 1-based frame `frame_number`."""
        frame_count, fragment_count = struct.unpack_from("<qq", self.packed, 0)
        if not 1 <= frame_number <= frame_count:
            raise IndexError(frame_number)
        first, end = struct.unpack_from("<qq", self.packed, 16 + 8 * (frame_number - 1))
        offsets_at = 16 + 8 * (frame_count + 1)
        lengths_at = offsets_at + 8 * fragment_count
        return [
            (struct.unpack_from("<q", self.packed, offsets_at + 8 * i)[0],
             struct.unpack_from("<q", self.packed, lengths_at + 8 * i)[0])
            for i in range(first, end)
        ]

    def read_frame(self, file: BinaryIO, frame_number: int) -> bytes:
        parts = []
        for offset, length in self.ranges(frame_number):
            file.seek(offset)
            parts.append(file.read(length))
        return b"".join(parts)


def pack(frame_starts: list[int], offsets: list[int], lengths: list[int]) -> FrameIndex:
    frame_count = len(frame_starts) - 1
    values = [frame_count, len(offsets), *frame_starts, *offsets, *lengths]
    return FrameIndex(struct.pack(f"<{len(values)}q", *values))


def build_frame_index(file: BinaryIO) -> FrameIndex:
    """Index the frames of the Part-10 file open in `file` (read from its start). Raises
    FrameIndexError."""
    file.seek(0)
    dataset = pydicom.dcmread(file, defer_size=256)
    if PIXEL_DATA not in dataset:
        return FrameIndex(b"")
    element = dataset.get_item(PIXEL_DATA, keep_deferred=True)
    value_offset = getattr(element, "value_tell", None)
    if value_offset is None:
        raise FrameIndexError("pixel data position unknown")
    frame_count = int(dataset.get("NumberOfFrames") or 1)
    if element.length != UNDEFINED_LENGTH:
        return _native_index(dataset, value_offset, element.length, frame_count)
    fragments, basic_offsets, fragment_positions = _read_fragments(file, value_offset, dataset.is_little_endian)
    first_bytes = []
    for offset, _ in fragments:
        file.seek(offset)
        first_bytes.append(file.read(4))
    extended = dataset.get("ExtendedOffsetTable")
    if extended is not None:
        basic_offsets = list(struct.unpack(f"<{len(extended) // 8}Q", extended))
    frame_starts = _group_fragments(fragments, basic_offsets, fragment_positions, first_bytes, frame_count)
    return pack(frame_starts, [o for o, _ in fragments], [n for _, n in fragments])


def _native_index(dataset: pydicom.Dataset, value_offset: int, length: int, frame_count: int) -> FrameIndex:
    frame_bits = int(dataset.Rows) * int(dataset.Columns) * int(dataset.get("SamplesPerPixel", 1)) * int(
        dataset.BitsAllocated)
    if frame_bits % 8:  # 1-bit frames (segmentations) whose pixel count is not a multiple of 8
        raise FrameIndexError("frames of BitsAllocated 1 do not start on byte boundaries")
    frame_bytes = frame_bits // 8
    if frame_bytes * frame_count > length:
        raise FrameIndexError(
            f"pixel data holds {length} bytes, {frame_count} frames need {frame_bytes * frame_count}"
        )
    offsets = [value_offset + i * frame_bytes for i in range(frame_count)]
    return pack(list(range(frame_count + 1)), offsets, [frame_bytes] * frame_count)


def _read_fragments(
    file: BinaryIO, value_offset: int, little_endian: bool
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Fragments as (data offset, length), the Basic Offset Table, and each fragment's item position
    relative to the first fragment's item tag (the origin the offset tables count from)."""
    endian = "<" if little_endian else ">"
    file.seek(value_offset)
    items = []
    while True:
        header = file.read(8)
        if len(header) < 8:
            raise FrameIndexError("encapsulated pixel data ends without a sequence delimiter")
        group, elem, length = struct.unpack(f"{endian}HHI", header)
        if (group, elem) == SEQUENCE_DELIMITER:
            break
        if (group, elem) != ITEM or length == UNDEFINED_LENGTH:
            raise FrameIndexError(f"unexpected ({group:04X},{elem:04X}) in encapsulated pixel data")
        items.append((file.tell() - 8, file.tell(), length))
        file.seek(length, 1)
    if not items:
        raise FrameIndexError("encapsulated pixel data has no Basic Offset Table item")
    _, bot_offset, bot_length = items[0]
    file.seek(bot_offset)
    basic_offsets = list(struct.unpack(f"{endian}{bot_length // 4}I", file.read(bot_length)))
    fragment_items = items[1:]
    if not fragment_items:
        raise FrameIndexError("encapsulated pixel data has no fragments")
    origin = fragment_items[0][0]
    fragments = [(data_at, length) for _, data_at, length in fragment_items]
    positions = [item_at - origin for item_at, _, _ in fragment_items]
    return fragments, basic_offsets, positions


def _group_fragments(
    fragments: list[tuple[int, int]],
    basic_offsets: list[int],
    positions: list[int],
    first_bytes: list[bytes],
    frame_count: int,
) -> list[int]:
    """Frame n's first fragment, for each n, plus the end. Raises FrameIndexError."""
    fragment_count = len(fragments)
    if fragment_count == frame_count:
        return list(range(frame_count + 1))
    if frame_count == 1:
        return [0, fragment_count]
    if len(basic_offsets) == frame_count:
        by_position = {position: i for i, position in enumerate(positions)}
        try:
            starts = [by_position[offset] for offset in basic_offsets]
        except KeyError as missing:
            raise FrameIndexError(f"offset table points between fragments ({missing})") from None
        return [*starts, fragment_count]
    starts = [i for i, head in enumerate(first_bytes) if head.startswith(FRAME_START_MARKERS)]
    if len(starts) == frame_count and starts[0] == 0:
        return [*starts, fragment_count]
    raise FrameIndexError(
        f"{fragment_count} fragments for {frame_count} frames and no offset table to tell frames apart"
    )


NATIVE_LITTLE_ENDIAN = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2")


def decode_frame_native(file: BinaryIO, frame_number: int) -> bytes:
    """Frame `frame_number` (1-based) of the Part-10 file open in `file`, as Explicit VR Little
    Endian pixel bytes (colour as RGB)."""
    from pydicom.pixels import pixel_array

    array = pixel_array(file, index=frame_number - 1)
    return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
