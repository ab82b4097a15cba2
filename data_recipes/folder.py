"""Any folder of videos and audio files: `talkface prep folder ROOT [--labels CSV]`.

Videos are tracked and fitted, audio files kept as audio-only clips. Labels come from the CSV
(columns path, speaker, emotion, intensity, statement; `path` relative to ROOT, read as
`labels.read_labels` says); without it the speaker is the file's parent folder name and the
emotion stays empty. With a CSV, only the files it lists are taken, and a listed file that is
missing or neither video nor audio is reported.
"""

from __future__ import annotations

from pathlib import Path

from talkface_cli.audio.io import is_video
from talkface_cli.errors import TalkfaceError

from .audio import audio_clip
from .base import Job, PrepOptions, nothing_found
from .labels import MEDIA, clip_id, default_labels, listed_error, read_labels
from .video import HOW, VERSION, fit_speakers, track_clip


class Folder:
    name = "folder"
    how = HOW
    version = VERSION

    def discover(self, root: Path, opts: PrepOptions) -> tuple[list[Job], list[dict]]:
        if not root.is_dir():
            raise TalkfaceError(f"{root}: no such folder")
        table = read_labels(Path(opts.extra["labels"]), root) if opts.extra.get("labels") else None
        errors = []
        if table is None:
            paths = [p for p in sorted(root.rglob("*")) if p.suffix.lower() in MEDIA and p.is_file()]
        else:
            usable = {rel for rel in table if (root / rel).is_file() and Path(rel).suffix.lower() in MEDIA}
            paths = [root / rel for rel in table if rel in usable]
            errors = [listed_error(root, rel, "a video or audio file") for rel in table if rel not in usable]
        jobs = []
        for path in paths:
            rel = path.relative_to(root).as_posix()
            labels = default_labels("folder", path)
            if table is not None:
                labels |= {k: v for k, v in table[rel].items() if v is not None}
            jobs.append(Job(clip_id(root, path), str(path), labels, MEDIA[path.suffix.lower()]))
        if not jobs and not errors:
            raise nothing_found(root, "video or audio files")
        return jobs, errors

    def process(self, job: Job, out: Path, opts: PrepOptions) -> None:
        """A video is tracked; an audio file, or a video file without a picture (a voice
        recorder's .mp4), is kept as an audio-only clip."""
        track_clip(job, out, opts) if is_video(Path(job.source)) else audio_clip(job, out)

    def finish(self, jobs: list[Job], out: Path, opts: PrepOptions) -> list[dict]:
        return fit_speakers(jobs, out, opts)
