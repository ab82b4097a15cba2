"""Speech piped in: `espeak-ng --stdout "Hello there" | talkface animate - --out hello.npz`."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import TalkfaceError

STDIN = Path("-")


@contextmanager
def stdin_read(paths: list[Path]) -> Iterator[list[Path]]:
    """`paths` with "-" standing for a file that holds all of standard input, read once (a decoder
    needs to seek: a wav's length is in its header, an mp4's index may be at its end), removed
    after. Errors raised in the block name it "-", as it was given, not the copy."""
    if STDIN not in paths:
        yield paths
        return
    if paths.count(STDIN) > 1:
        raise TalkfaceError("-: standard input is read once; give '-' for one input only")
    if sys.stdin is None or sys.stdin.isatty():
        raise TalkfaceError(
            "-: standard input is a terminal; pipe speech into it (cat speech.wav | talkface ... -)"
        )
    with tempfile.TemporaryDirectory(prefix="talkface-") as folder:
        copy = Path(folder) / "stdin"  # its outputs: stdin.npz, stdin.mp4
        with copy.open("wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)
        if copy.stat().st_size == 0:
            raise TalkfaceError("-: nothing came in on standard input")
        with named(copy, STDIN):
            yield [copy if p == STDIN else p for p in paths]


@contextmanager
def named(path: Path, given: Path) -> Iterator[None]:
    """Errors raised in the block name `path` as `given` (the copy of standard input as "-")."""
    try:
        yield
    except TalkfaceError as e:
        raise TalkfaceError(str(e).replace(str(path), str(given)), e.exit_code) from None
