"""Any folder of videos and audio files: `talkface prep folder ROOT [--labels CSV]`.

Videos are tracked and fitted, audio files kept as audio-only clips. Labels come from the CSV
(columns path, speaker, emotion, intensity, statement; `path` relative to ROOT); without it the
speaker is the file's parent folder name and the emotion stays empty. With a CSV, only the files
it lists are taken, and a listed file that is missing is reported.
"""

from __future__ import annotations

from pathlib import Path

from talkface_cli.audio.io import is_video
from talkface_cli.errors import TalkfaceError

from .audio import audio_clip
from .base import Job, PrepOptions, nothing_found
from .labels import MEDIA, clip_id, default_labels, read_labels
from .video import HOW, VERSION, fit_speakers, track_clip


class Folder:
    name = "folder"
    how = HOW
    version = VERSION

    def discover(self, root: Path, opts: PrepOptions) -> tuple[list[Job], list[dict]]:
        if not root.is_dir():
            raise TalkfaceError(f"{root}: no such folder")
        table = read_labels(Path(opts.extra["labels"])) if opts.extra.get("labels") else None
        jobs, errors = [], []
        if table is not None:
            paths = []
            for rel in table:
                if (root / rel).is_file():
                    paths.append(root / rel)
                else:
                    errors.append(
                        {"id": rel, "source": str(root / rel), "error": f"{root / rel}: listed but missing"}
                    )
        else:
            paths = [p for p in sorted(root.rglob("*")) if p.suffix.lower() in MEDIA and p.is_file()]
        for path in paths:
            kind = MEDIA.get(path.suffix.lower())
            if kind is None:
                errors.append(
                    {"id": path.stem, "source": str(path), "error": f"{path}: not a video or audio file"}
                )
                continue
            rel = str(path.relative_to(root))
            labels = default_labels("folder", path)
            if table is not None:
                labels |= {k: v for k, v in table[rel].items() if v is not None}
            jobs.append(Job(clip_id(root, path), str(path), labels, kind))
        if not jobs and not errors:
            raise nothing_found(root, "video or audio files")
        return jobs, errors

    def process(self, job: Job, out: Path, opts: PrepOptions) -> None:
        """A video is tracked; an audio file, or a video file without a picture (a voice
        recorder's .mp4), is kept as an audio-only clip."""
        track_clip(job, out, opts) if is_video(Path(job.source)) else audio_clip(job, out)

    def finish(self, jobs: list[Job], out: Path, opts: PrepOptions) -> list[dict]:
        return fit_speakers(jobs, out, opts)
