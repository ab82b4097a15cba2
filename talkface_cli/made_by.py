"""What made an output, as a one-line JSON record stored inside it (a .npz's `made_by` entry, a
video's `description` tag): the work, the code version, digests of the input files and settings.

In a folder output, `fsutil.Output.made_before` finds an earlier output of the very same work by
this record, so a batch run again after a stop keeps what was done rather than numbering copies.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import TalkfaceError, os_error_line, require_file
from .fsutil import sha256_file
from .registry import code_version
from .ui import console


def record(work: str, **settings: object) -> str:
    """The record of `work` (a command's name) with JSON-able `settings`; files enter by `digest`."""
    fields = {"work": work, "code": code_version(), **settings}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


def digest(path: Path) -> str:
    """sha256 of a file's bytes: the same content under another name or date is the same input."""
    try:
        return sha256_file(require_file(path))
    except OSError as e:
        raise TalkfaceError(os_error_line(e)) from None


def say_kept(rows: list[dict]) -> None:
    """After a report whose rows name in `kept` the outputs found rather than made: say why."""
    if any("kept" in r for r in rows):
        console.print("kept: made before from the same inputs, models and settings, so not made again")
