"""HDTF (high-definition talking faces): `talkface prep hdtf ROOT`.

Every video under ROOT (mp4, or the webm/mkv a downloader may give) is one clip; the speaker is
its name without the trailing `_NNN` index (e.g. WRA_AdamSchiff_000 -> WRA_AdamSchiff). HDTF has
no emotion labels: emotion stays empty.
"""

from __future__ import annotations

import re
from pathlib import Path

from talkface_cli.audio.io import VIDEO_SUFFIXES
from talkface_cli.errors import TalkfaceError

from .base import Job, PrepOptions, nothing_found
from .labels import clip_id, default_labels
from .video import HOW, VERSION, fit_speakers, track_clip


class Hdtf:
    name = "hdtf"
    how = HOW
    version = VERSION

    def discover(self, root: Path, opts: PrepOptions) -> tuple[list[Job], list[dict]]:
        if not root.is_dir():
            raise TalkfaceError(f"{root}: no such folder")
        jobs = []
        for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()):
            speaker = re.sub(r"_\d+$", "", path.stem)
            labels = default_labels("hdtf", path, speaker)
            jobs.append(Job(clip_id(root, path), str(path), labels, "video"))
        if not jobs:
            raise nothing_found(root, f"videos ({', '.join(sorted(VIDEO_SUFFIXES))})")
        return jobs, []

    def process(self, job: Job, out: Path, opts: PrepOptions) -> None:
        track_clip(job, out, opts)

    def finish(self, jobs: list[Job], out: Path, opts: PrepOptions) -> list[dict]:
        return fit_speakers(jobs, out, opts)
