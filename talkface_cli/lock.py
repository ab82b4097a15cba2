"""One talkface at a time in a folder it fills: a store (`prep`) or a training run's folder.

Two at once undid each other: a training run resumed from a second terminal while the first still
ran (a dropped SSH session leaves it running) cleared the first's checkpoint being written and
pruned its checkpoints; a second `prep` of a store cleared the archive members the first was
reading. The lock is the kernel's (flock on a hidden file in the folder): it goes with its
process however that ends, so a killed run leaves none held.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import TalkfaceError

try:
    import fcntl
except ImportError:  # Windows has no flock: the folder is not locked there
    fcntl = None

LOCK = ".talkface-lock"  # hidden: the checks of a folder's own files pass over it


@contextmanager
def working_in(folder: Path, work: str) -> Iterator[None]:
    """Hold `folder` (made if missing, and removed again if still empty) while `work` (e.g. "prep
    ravdess") writes there; another talkface holding it is a one-line error that names it."""
    folder = Path(folder)
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    fd = _hold(path) if fcntl is not None else None
    try:
        if fd is not None:
            os.ftruncate(fd, 0)
            os.write(fd, f"{work}, process {os.getpid()} on {socket.gethostname()}".encode())
        yield
    finally:
        if fd is not None:
            path.unlink(missing_ok=True)  # while held: the next holder makes a file of its own
            os.close(fd)
        if made and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def held(folder: Path) -> bool:
    """Whether another talkface holds `folder` now (a lock file a killed run left is not held)."""
    path = Path(folder) / LOCK
    if fcntl is None or not path.is_file():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    except OSError:  # no locks on this file system: none is held
        return False
    finally:
        os.close(fd)


def _hold(path: Path) -> int | None:
    """An open descriptor of `path` holding its lock; None on a file system without locks (some
    network mounts), where the work goes on unlocked."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode("utf-8", "replace").strip() or "another talkface"
            os.close(fd)
            raise TalkfaceError(
                f"{path.parent}: in use by {holder}; wait for it to end (or stop it), then run this again"
            ) from None
        except OSError:
            os.close(fd)
            return None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:  # its holder ended and removed it between our open and lock
            pass
        os.close(fd)
