"""Files read from inside an uncompressed tar, not unpacked: MEAD gives each speaker as video.tar
(seven camera views, of which a prep takes one) and audio.tar.

A member is named `ARCHIVE.tar:MEMBER` in a clip's source. While a clip is made, `local_copy` copies
it out from its byte offset to a temporary file (ffmpeg and OpenCV open paths), removed after; an
archive is listed once per process.
"""

from __future__ import annotations

import functools
import os
import re
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from talkface_cli.errors import TalkfaceError

_SOURCE = re.compile(r"^(?P<archive>.+?\.tar):(?P<name>.+)$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Member:
    offset: int  # of its data in the archive, bytes
    size: int


def members(archive: Path) -> dict[str, Member]:
    """The regular files of an uncompressed tar by name; a one-line error if it is not one or is
    cut short (a download that stopped)."""
    st = archive.stat()
    return _listing(str(archive), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _listing(archive: str, _size: int, _mtime: int) -> dict[str, Member]:  # keyed by the file's state
    try:
        with tarfile.open(archive, "r:") as tar:
            return {m.name: Member(m.offset_data, m.size) for m in tar if m.isreg() and not m.issparse()}
    except (tarfile.TarError, EOFError) as e:
        raise TalkfaceError(
            f"{archive}: not a whole uncompressed tar ({e}); a download cut short, or unpack it yourself"
        ) from None


def member_source(archive: Path, name: str) -> str:
    return f"{archive}:{name}"


@contextmanager
def local_copy(source: str, where: Path) -> Iterator[Path]:
    """A path to open `source` by: the file itself, or a tar member copied to a temporary file under
    `where`. Errors raised in the block name the member, not the copy."""
    found = _SOURCE.match(source)
    if found is None or not Path(found["archive"]).is_file():
        yield Path(source)
        return
    archive, name = Path(found["archive"]), found["name"]
    member = members(archive).get(name)
    if member is None:
        raise TalkfaceError(f"{source}: not in the archive (changed since it was listed?)")
    where.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=Path(name).suffix, prefix=".member-", dir=where)
    try:
        with os.fdopen(fd, "wb") as dst, archive.open("rb") as src:
            src.seek(member.offset)
            left = member.size
            while left and (chunk := src.read(min(left, _CHUNK))):
                dst.write(chunk)
                left -= len(chunk)
        if left:
            raise TalkfaceError(f"{source}: the archive ends inside it (a download cut short?)")
        try:
            yield Path(tmp)
        except TalkfaceError as e:
            raise TalkfaceError(str(e).replace(tmp, source), e.exit_code) from None
    finally:
        Path(tmp).unlink(missing_ok=True)
