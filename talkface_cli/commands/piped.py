"""Speech piped in: `espeak-ng --stdout "Hello there" | talkface animate - --out hello.npz`, or
given as a pipe's name: `talkface animate <(sox speech.wav -t wav - tempo 0.9) --out slow.npz`."""

from __future__ import annotations

import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ..errors import TalkfaceError

STDIN = Path("-")


def is_pipe(path: Path) -> bool:
    """Whether `path` names a pipe: bash's `<(...)` (/dev/fd/63), a named pipe made by mkfifo,
    /dev/stdin when something is piped in."""
    try:
        return path != STDIN and stat.S_ISFIFO(path.stat().st_mode)
    except OSError:
        return False


@contextmanager
def stdin_read(paths: list[Path]) -> Iterator[list[Path]]:
    """`paths` with "-" and each pipe named (`is_pipe`) standing for a file that holds all that came
    through it, read once (a decoder needs to seek: a wav's length is in its header, an mp4's index
    may be at its end; a pipe cannot be read twice), removed after. A copy keeps a named pipe's
    name (its outputs: speech.npz for a FIFO speech.wav, 63.npz for /dev/fd/63), standard input's
    is "stdin". Errors raised in the block name each as it was given, not the copy."""
    piped = list(dict.fromkeys(p for p in paths if p == STDIN or is_pipe(p)))  # a FIFO named twice: once
    if not piped:
        yield paths
        return
    if paths.count(STDIN) > 1:
        raise TalkfaceError("-: standard input is read once; give '-' for one input only")
    if STDIN in piped and (sys.stdin is None or sys.stdin.isatty()):
        raise TalkfaceError(
            "-: standard input is a terminal; pipe speech into it (cat speech.wav | talkface ... -)"
        )
    with tempfile.TemporaryDirectory(prefix="talkface-") as folder, ExitStack() as names:
        copies = {}
        for k, given in enumerate(piped):
            copy = Path(folder) / str(k) / ("stdin" if given == STDIN else given.name)
            copy.parent.mkdir()
            with copy.open("wb") as f, ExitStack() as source:
                src = sys.stdin.buffer if given == STDIN else source.enter_context(given.open("rb"))
                shutil.copyfileobj(src, f, 1 << 20)
            if copy.stat().st_size == 0:
                came = "on standard input" if given == STDIN else "through the pipe"
                raise TalkfaceError(f"{given}: nothing came in {came}")
            names.enter_context(named(copy, given))
            copies[given] = copy
        yield [copies.get(p, p) for p in paths]


@contextmanager
def named(path: Path, given: Path) -> Iterator[None]:
    """Errors raised in the block name `path` as `given` (the copy of standard input as "-")."""
    try:
        yield
    except TalkfaceError as e:
        raise TalkfaceError(str(e).replace(str(path), str(given)), e.exit_code) from None
