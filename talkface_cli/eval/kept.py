"""An evaluation's scores, kept in its report folder clip by clip as they are made: an `eval`
stopped part way (Ctrl-C, a job's time limit, a prediction file found broken at clip 900) and run
again for the same work goes on from the clips it had scored, not from the first. Removed once
the report is written.

Each clip's scores are filed under a digest of everything they come from: the clip's record,
speech and parameters (and a prediction file's bytes, a swap's reference), so a store prepared
again, a corrected prediction or a changed label is scored again. What all clips share (the code
version, the models' weights and records, the settings) is the folder's work record; scores kept
for other work are cleared when it starts.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from ..fsutil import atomic_write_bytes

FOLDER = ".talkface-eval-scores"  # hidden: the report folder's check for foreign files passes over it
WORK = "work.json"


def key(*parts: str | bytes | np.ndarray | None) -> str:
    """A digest of strings, bytes and arrays (their dtype and shape too); None counts as a part."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray):
            h.update(f"{p.dtype.str}{p.shape}".encode())
            p = np.ascontiguousarray(p).tobytes()
        data = p.encode() if isinstance(p, str) else b"\0none" if p is None else p
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()[:32]


def _plain(value: object) -> object:
    """json's fallback for numpy values: arrays as lists, scalars as Python numbers (exact)."""
    return value.tolist()


class KeptScores:
    """Scores by key in `report/FOLDER` for the work `record` (a `made_by.record`); with no
    `report`, none are kept."""

    def __init__(self, report: Path | None, record: str):
        self.before = 0  # scores a stopped run of the same work kept
        self.folder = None if report is None else Path(report) / FOLDER
        if self.folder is None:
            return
        work = self.folder / WORK
        if self.folder.is_dir() and not (work.is_file() and work.read_text() == record):
            shutil.rmtree(self.folder)  # another work's scores (the folder is this module's own)
        self.folder.mkdir(parents=True, exist_ok=True)
        if not work.is_file():
            atomic_write_bytes(work, record.encode())
        self.before = sum(1 for f in self.folder.glob("*.json") if f.name != WORK)

    def get(self, name: str) -> dict | None:
        path = None if self.folder is None else self.folder / f"{name}.json"
        return json.loads(path.read_text()) if path is not None and path.is_file() else None

    def put(self, name: str, scores: dict) -> dict:
        """Keep `scores` (written whole, NaN as NaN) and hand them back as they will be read."""
        text = json.dumps(scores, default=_plain)
        if self.folder is not None:
            atomic_write_bytes(self.folder / f"{name}.json", text.encode())
        return json.loads(text)

    def scored(self, name: str, make) -> dict:  # noqa: ANN001 - a () -> dict
        """The scores kept as `name`, or `make()`'s, kept."""
        found = self.get(name)
        return found if found is not None else self.put(name, make())


def forget(report: Path) -> None:
    """Remove the kept scores of a finished report."""
    shutil.rmtree(Path(report) / FOLDER, ignore_errors=True)
