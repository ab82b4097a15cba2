"""What a WAV's RIFF chunks say that libsndfile does not act on: whether the recording was
finished (its sizes written) and which speaker each channel feeds (WAVE_FORMAT_EXTENSIBLE's mask)."""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_CHUNK_ID = re.compile(rb"[A-Za-z0-9 _]{4}")  # a RIFF chunk's id: LIST, id3 , bext, JUNK, ...
FRONT_CENTRE = 0x4  # channel mask bits (Microsoft's speaker positions)
SURROUND = 0x10 | 0x20 | 0x200 | 0x400  # back left, back right, side left, side right


def chunks(f: BinaryIO) -> Iterator[tuple[bytes, int, int]]:
    """(id, where its body begins, its size) of each chunk of an open RIFF WAVE file, or of its
    64-bit forms (RF64, and BW64 of the ADM broadcast WAV: a DAW's film stems, anything past 4 GB),
    in order; none for another file. Sizes are as written: a chunk may claim more than the file
    holds (RF64's data chunk says 0xFFFFFFFF, its size in the ds64 chunk, which is not read: the
    chunks before it are the ones asked for)."""
    total = os.fstat(f.fileno()).st_size
    f.seek(0)
    head, at = f.read(12), 12
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64", b"BW64") or head[8:] != b"WAVE":
        return
    while at + 8 <= total:
        f.seek(at)
        cid, size = struct.unpack("<4sI", f.read(8))
        yield cid, at + 8, size
        at += 8 + size + (size & 1)  # chunks are padded to an even length


def unfinished_wav(path: Path | str | bytes) -> bool:
    """Whether `path` is a RIFF WAV holding more sound than its header says: a recording whose
    recorder stopped (killed, crashed, its power lost) before it wrote the sizes, left 0, or last
    updated them (Python's `wave` writer counts its first block until it is closed). libsndfile
    and ffmpeg read what the header says, nothing or the first second of ten. Bytes after the data
    chunk that begin another chunk (LIST, id3, bext, ...) are a finished file's metadata."""
    try:
        with open(path, "rb") as f:
            total = os.fstat(f.fileno()).st_size
            for cid, body, size in chunks(f):
                if cid == b"data":  # 0xFFFFFFFF ("to the end", ffmpeg writing to a pipe) reaches past it
                    end = body + size + (size & 1)
                    # the next chunk, also where a writer left out the pad byte of an odd length
                    return end < total and not any(_chunk_at(f, at, total) for at in {end, end - (size & 1)})
    except OSError:
        return False
    return False


def _chunk_at(f: BinaryIO, at: int, total: int) -> bool:
    """Whether a RIFF chunk begins at byte `at` of the open file `f` of `total` bytes: an id of
    four letters and a size that fits in the file."""
    f.seek(at)
    head = f.read(8)
    return (
        len(head) == 8
        and _CHUNK_ID.fullmatch(head[:4]) is not None
        and at + 8 + struct.unpack("<I", head[4:])[0] <= total
    )


def dialogue_channel(path: Path | str | bytes, channels: int) -> int | None:
    """The index of the front centre channel of a surround WAV (5.1, 7.1, ...: a centre and side
    or back channels in its WAVE_FORMAT_EXTENSIBLE mask, as film, broadcast and ffmpeg's decoding
    of AC-3 or AAC 5.1 write it), where such mixes put dialogue; None for any other file (mono,
    stereo, a field recorder's tracks without a layout)."""
    if channels < 3:  # no surround layout: the file is not opened
        return None
    try:
        with open(path, "rb") as f:
            fmt = next((body for cid, body, size in chunks(f) if cid == b"fmt " and size >= 40), None)
            if fmt is None:
                return None
            f.seek(fmt)
            head = f.read(24)  # format tag, channels, ..., the channel mask at 20
            tag, n = struct.unpack_from("<HH", head)
            (mask,) = struct.unpack_from("<I", head, 20)
    except (OSError, struct.error):
        return None
    if tag != 0xFFFE or n != channels or bin(mask).count("1") != n:
        return None
    if not mask & FRONT_CENTRE or not mask & SURROUND:
        return None
    return bin(mask & (FRONT_CENTRE - 1)).count("1")  # channels are stored in the mask's bit order
