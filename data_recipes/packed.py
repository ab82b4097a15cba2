"""Files read from inside a corpus's archives, not unpacked: MEAD gives each speaker as video.tar
(seven camera views, of which a prep takes one) and audio.tar, RAVDESS as zips per actor.

A member is named `ARCHIVE.tar:MEMBER` (or `.zip:`) in a clip's source. While a clip is made,
`local_copy` copies it out to a temporary file (ffmpeg and OpenCV open paths), removed after: from
its byte offset in an uncompressed tar, through zipfile from a zip. An archive is listed once per
process.
"""

from __future__ import annotations

import filecmp
import functools
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from talkface_cli.errors import TalkfaceError

from .visible import user_members

_SOURCE = re.compile(r"^(?P<archive>.+?\.(?:tar|zip)):(?P<name>.+)$", re.IGNORECASE)
_CHUNK = 1 << 20


def members(archive: Path) -> list[str]:
    """The names of an archive's files; a one-line error if it is not a whole uncompressed tar or
    zip (a download that stopped)."""
    return user_members(list(_listing(archive)))


def _listing(archive: Path) -> dict[str, tuple[int, int]]:
    st = archive.stat()
    return _read_listing(str(archive), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _read_listing(archive: str, _size: int, _mtime: int) -> dict[str, tuple[int, int]]:
    """name -> (offset of its data, size) in a tar; (-1, size) in a zip. Keyed by the file's state."""
    try:
        if archive.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                return {i.filename: (-1, i.file_size) for i in z.infolist() if not i.is_dir()}
        with tarfile.open(archive, "r:") as tar:
            return {m.name: (m.offset_data, m.size) for m in tar if m.isreg() and not m.issparse()}
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        kind = "zip" if archive.lower().endswith(".zip") else "uncompressed tar"
        raise TalkfaceError(
            f"{archive}: not a whole {kind} ({e}); a download cut short, or unpack it yourself"
        ) from None


def clear_copies(where: Path) -> None:
    """Removes the copies a run killed outright (SIGKILL, power loss) left under `where`."""
    for stale in where.glob(".member-*"):
        stale.unlink(missing_ok=True)


def member_source(archive: Path, name: str) -> str:
    return f"{archive}:{name}"


def _member(source: str) -> tuple[Path, str] | None:
    """(archive, member name) of a source naming an archive's member, else None (a file)."""
    found = _SOURCE.match(source)
    if found is None or not Path(found["archive"]).is_file():
        return None
    return Path(found["archive"]), found["name"]


@contextmanager
def local_copy(source: str, where: Path) -> Iterator[Path]:
    """A path to open `source` by: the file itself, or an archive's member copied to a temporary
    file under `where`. Errors raised in the block name the member, not the copy."""
    member = _member(source)
    if member is None:
        yield Path(source)
        return
    archive, name = member
    if name not in _listing(archive):
        raise TalkfaceError(f"{source}: not in the archive (changed since it was listed?)")
    where.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=Path(name).suffix, prefix=".member-", dir=where)
    try:
        with os.fdopen(fd, "wb") as dst:
            _copy_out(archive, name, dst, source)
        try:
            yield Path(tmp)
        except TalkfaceError as e:
            raise TalkfaceError(str(e).replace(tmp, source), e.exit_code) from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def same_bytes(a: str, b: str, scratch: Path) -> bool:
    """Whether two sources, files or archives' members, hold the same bytes (members are copied
    out under `scratch` to be compared); False where either cannot be read."""
    try:
        if _size(a) != _size(b):
            return False
        with local_copy(a, scratch) as x, local_copy(b, scratch) as y:
            return filecmp.cmp(x, y, shallow=False)
    except (OSError, KeyError, TalkfaceError):
        return False


def _size(source: str) -> int:
    member = _member(source)
    return Path(source).stat().st_size if member is None else _listing(member[0])[member[1]][1]


def _copy_out(archive: Path, name: str, dst: BinaryIO, source: str) -> None:
    offset, size = _listing(archive)[name]
    if offset < 0:  # a zip's member, decompressed and its CRC checked by zipfile
        try:
            with zipfile.ZipFile(archive) as z, z.open(name) as src:
                shutil.copyfileobj(src, dst, _CHUNK)
        except (zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise TalkfaceError(f"{source}: damaged in the archive ({e})") from None
        return
    with archive.open("rb") as src:
        src.seek(offset)
        left = size
        while left and (chunk := src.read(min(left, _CHUNK))):
            dst.write(chunk)
            left -= len(chunk)
    if left:
        raise TalkfaceError(f"{source}: the archive ends inside it (a download cut short?)")
