"""Atomic file and folder writes: outputs appear under their final name only when complete."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import TalkfaceError


def umask() -> int:
    """The process's umask, read without changing it where Linux shows it (os.umask sets it, and
    a thread creating a file in between would get the wrong one)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    old = os.umask(0o022)
    os.umask(old)
    return old


def as_created(path: str | Path) -> None:
    """Give a temporary file or folder the permissions a plain open() or mkdir() would have:
    mkstemp and mkdtemp make them private to the owner (0600 / 0700), and the rename kept that,
    so a colleague on a shared server could not read a model or a store."""
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~umask())


def save_tensors(tensors: dict, path: str | Path) -> None:
    """safetensors' save_file, with the permissions of a plain file (it writes 0600)."""
    from safetensors.torch import save_file

    save_file(tensors, str(path))
    as_created(path)


def check_can_create(path: str | Path, folder: bool = False) -> Path:
    """`path` if a file (or with `folder`, a folder) could be made there, else a one-line error;
    commands call it for their outputs before any work, so a path through a file or into a folder
    they may not write costs no run. Nothing is created."""
    path = Path(path)
    if not folder and path.is_dir():
        raise TalkfaceError(f"{path}: a folder, where a file is to be written")
    if folder and path.exists() and not path.is_dir():
        raise TalkfaceError(f"{path}: a file, where a folder is to be written")
    where = _nearest_existing(path)
    if not where.is_dir():
        raise TalkfaceError(f"{path}: {where} is a file, where a folder is needed")
    if not os.access(where, os.W_OK | os.X_OK):
        raise TalkfaceError(f"{path}: no permission to write in {where}")
    return path


def free_name(path: str | Path) -> Path:
    """`path`, or the first of `stem-2.ext`, `stem-3.ext`, ... that does not exist: the name of an
    output the user did not name, so a command run twice never replaces a file of theirs."""
    path = Path(path)
    candidate, n = path, 1
    while candidate.exists() or candidate.is_symlink():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


@dataclass(frozen=True)
class Output:
    """Where a command writes: the file `path` names or, with `folder`, a folder in which each
    input's output takes its own name, numbered rather than replacing a file (`free_name`)."""

    path: Path
    folder: bool = False

    @classmethod
    def given(cls, path: Path | None, into: bool, option: str, suffixes: tuple[str, ...]) -> Output:
        """`option`'s value: not given, the current folder. A name ending like the output file
        (`suffixes`) is that file, refused when `into` (several inputs each make one). Otherwise a
        folder that exists or, when `into`, any path where one can be made (the writers make it)."""
        if path is None:
            return cls(Path("."), True)
        if path.suffix.lower() in suffixes:
            if into:
                raise TalkfaceError(
                    f"{option} {path}: several inputs go into a folder, each under its own name; "
                    f"give {option} a folder"
                )
            return cls(path)
        if path.is_dir():
            return cls(path, True)
        return cls(check_can_create(path, folder=True), True) if into else cls(path)

    def name(self, filename: str) -> Path:
        """The output path for an input whose own output name is `filename`."""
        return free_name(self.path / filename) if self.folder else self.path

    def made_before(self, filename: str, made_by: str, read: Callable[[Path], str | None]) -> Path | None:
        """In a folder, the output (a file, or a folder of them) under `filename` or one of its
        numbered names whose stored record of what made it (`read`, None where there is none) is
        `made_by`: the same work run again keeps it (a batch stopped half-way goes on where it
        stopped) instead of making a numbered copy. None for a named file, which is written anew
        as the user asked."""
        if not self.folder:
            return None
        first = self.path / filename
        numbered = re.compile(re.escape(first.stem) + r"-[0-9]+" + re.escape(first.suffix))
        others = sorted(first.parent.glob(f"{glob.escape(first.stem)}-*{glob.escape(first.suffix)}"))
        candidates = [first, *(p for p in others if numbered.fullmatch(p.name))]
        return next((p for p in candidates if p.exists() and read(p) == made_by), None)


def refuse_foreign(folder: Path, own: tuple[str, ...], what: str, option: str) -> None:
    """A one-line error when `folder` holds an entry (hidden ones aside) whose name is not in `own`:
    an output folder may be one of the user's (`--out .`), and nothing of theirs is to be replaced
    or mixed with outputs."""
    if not Path(folder).is_dir():
        return
    others = sorted(p.name for p in Path(folder).iterdir() if p.name not in own and p.name[0] != ".")
    if others:
        raise TalkfaceError(
            f"{folder}: a folder holding other files ({others[0]}), not {what}; "
            f"give {option} a new or empty folder"
        )


def can_create(path: str | Path) -> bool:
    """Could a file or folder be made at `path` (its nearest existing folder can be written)?"""
    where = _nearest_existing(Path(path))
    return where.is_dir() and os.access(where, os.W_OK | os.X_OK)


def hidden(name: str, limit: int = 200) -> str:
    """The start of a temporary sibling's name for `name`: "." + it, cut to `limit` bytes, leaving
    room for a temporary ending within the file system's 255 (a long video title, more so in CJK,
    comes near it; a name with the ending past it was refused as "File name too long")."""
    return "." + name.encode("utf-8", "surrogateescape")[:limit].decode("utf-8", "ignore")


@contextlib.contextmanager
def utf8_path(path: str | Path) -> Iterator[str]:
    """`path`, absolute, as text for a library that takes it as UTF-8 (OpenCV, safetensors' reader):
    where it is not (an old archive's Latin-1 name on Linux), a symbolic link with a plain name to
    it, removed after the block (OpenCV crashed on such a name; safetensors refused it)."""
    name = os.path.abspath(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        with tempfile.TemporaryDirectory(prefix="talkface-link-") as folder:
            os.symlink(name, link := os.path.join(folder, "file"))
            yield link
        return
    yield name


def _nearest_existing(path: Path) -> Path:
    where = path.absolute().parent
    while not where.exists():
        where = where.parent
    return where


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """A temporary sibling of `path` to write (by any writer); renamed onto `path` in one step when
    the block ends, removed when it fails or is stopped."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{hidden(path.name)}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        as_created(tmp)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write in a temporary sibling of `path`: on disk (flushed and synced) and
    renamed onto `path` when the block ends, removed when it fails. Large outputs are written
    through it as they are made, not built in memory first."""
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary sibling and an atomic rename."""
    with atomic_open(path) as f:
        f.write(data)


def finite(obj: object) -> object:
    """`obj` with every NaN or infinite float replaced by None (JSON null), in nested dicts and lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def json_text(obj: object, indent: int | None = 2, sort_keys: bool = True) -> str:
    """Standard JSON for scripts: an undefined metric (NaN, e.g. a spread over one clip) is null,
    not Python's bare NaN, which jq and most JSON parsers refuse."""
    return json.dumps(finite(obj), indent=indent, sort_keys=sort_keys, allow_nan=False)


def atomic_write_json(path: Path, obj: object) -> None:
    atomic_write_bytes(path, (json_text(obj) + "\n").encode())


@contextlib.contextmanager
def atomic_dir(final: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `final`; on success it replaces `final` in one rename.

    An existing `final` is kept unless `overwrite`; then it is moved aside first and removed only
    after the new folder is in place, so a crash never leaves neither.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not overwrite:
        raise FileExistsError(final)
    tmp = Path(tempfile.mkdtemp(prefix=f"{hidden(final.name)}.", suffix=".tmp", dir=final.parent))
    try:
        as_created(tmp)
        yield tmp
        old = None
        if final.exists():
            old = final.parent / f"{hidden(final.name)}.old-{os.getpid()}"
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
