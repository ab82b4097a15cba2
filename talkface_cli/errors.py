"""User-facing errors: one line, naming the file and the problem; the CLI prints them without a
traceback and exits non-zero."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOP_CODES = (130, 128 + signal.SIGTERM)  # the exit codes of a run they stop


class TalkfaceError(Exception):
    """An error caused by the user's input or environment, shown as one line (exit code 1)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(" ".join(str(message).split()))  # always one line
        self.exit_code = exit_code


class NoAudio(TalkfaceError):
    """A media file without a sound track, where speech is needed."""

    def __init__(self, path: Path):
        super().__init__(f"{path}: the file has no audio track")


class Terminated(BaseException):
    """SIGTERM (`kill`, `timeout`, a scheduler's time limit) raised where the program is, so that
    temporary outputs are removed on the way out as they are for Ctrl-C (the CLI installs it)."""


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Run the block with Ctrl-C and SIGTERM noted, not acted on, then act on them as the program
    otherwise would. For libraries that lose a KeyboardInterrupt raised inside them: PyOpenGL runs
    Python code inside its GL calls, where it became a ctypes.ArgumentError, and trimesh (imported
    by pyrender) keeps any exception of an optional import in place of the module, after which
    the render hung and ignored Ctrl-C. Nests; outside the main thread (where Python runs no
    signal handler) it holds nothing."""
    old = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    if threading.current_thread() is not threading.main_thread() or None in old.values():
        yield
        return
    caught: list[int] = []
    for s in STOP_SIGNALS:
        signal.signal(s, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if caught:
            signal.raise_signal(caught[0])  # the program's own handler now runs (or the default)


LFS_POINTER = b"version https://git-lfs.github.com/spec/"


def require_file(path: Path, what: str = "") -> Path:
    """`path` if it is a file; else a TalkfaceError naming it (missing, a folder, a pipe, or the Git LFS
    pointer a clone without LFS leaves in place of a file, as in CREMA-D's repository); `what`, a
    hint, ends the message."""
    path = Path(path)
    if path.is_dir():
        raise TalkfaceError(f"{path}: a folder, not a file{what}")
    if not path.is_file():
        kind = "not a file but a pipe or a device; save what comes through it to a file"
        raise TalkfaceError(f"{path}: {kind if path.exists() else 'no such file'}{what}")
    if path.stat().st_size < 1024 and path.read_bytes().startswith(LFS_POINTER):
        raise TalkfaceError(f"{path}: a Git LFS pointer, not the file itself (`git lfs pull` fetches it)")
    return path


def require_finite(values, where: str) -> None:
    """A one-line error, `where` first (a file, and what in it), for an array holding NaN or
    infinite values: a face or curve drawn from one is nothing, and a metric of one NaN."""
    import numpy as np

    if values is not None and not np.isfinite(values).all():
        raise TalkfaceError(f"{where} holds NaN or infinite values")


def os_error_line(e: OSError) -> str:
    """One line for what the file system refused (a full disk, a path through a file, no
    permission), naming the path(s) it gave."""
    names = [str(n) for n in (e.filename, e.filename2) if n is not None]
    why = e.strerror or str(e)
    if isinstance(e, FileExistsError) and names and Path(names[0]).exists() and not Path(names[0]).is_dir():
        why = "a file, where a folder is needed"
    return f"{' -> '.join(names)}: {why}" if names else why
