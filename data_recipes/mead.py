"""MEAD: `talkface prep mead ROOT` (ROOT holds speaker folders, or is one).

Layout per speaker: video/<view>/<emotion>/level_<k>/NNN.mp4 with audio/<emotion>/level_<k>/NNN.m4a.
Only the `--view` camera (default front) is taken; the audio comes from the .m4a when present,
else from the video. Emotions are renamed to the toolkit's labels (disgusted -> disgust,
fear -> fearful); the level (1-3) is the intensity.
"""

from __future__ import annotations

from pathlib import Path

from talkface_cli.errors import TalkfaceError

from .base import Job, PrepOptions, nothing_found
from .labels import emotion_name
from .video import HOW, VERSION, fit_speakers, track_clip


class Mead:
    name = "mead"
    how = HOW
    version = VERSION

    def discover(self, root: Path, opts: PrepOptions) -> tuple[list[Job], list[dict]]:
        if not root.is_dir():
            raise TalkfaceError(f"{root}: no such folder")
        view = opts.extra.get("view", "front")
        jobs, errors = [], []
        for path in sorted(root.rglob(f"video/{view}/*/level_*/*.mp4")):
            speaker_dir = path.parents[4]
            emotion, level = path.parent.parent.name, path.parent.name
            try:
                intensity = int(level.split("_")[1])
            except (IndexError, ValueError):
                errors.append(
                    {"id": path.stem, "source": str(path), "error": f"{path}: bad level folder {level!r}"}
                )
                continue
            audio = speaker_dir / "audio" / emotion / level / f"{path.stem}.m4a"
            labels = {
                "corpus": "mead",
                "speaker": speaker_dir.name,
                "emotion": emotion_name(emotion),
                "intensity": intensity,
                "statement": None,
                "view": view,
            }
            if audio.is_file():
                labels["audio_source"] = str(audio)
            jobs.append(Job(f"{speaker_dir.name}_{emotion}_{level}_{path.stem}", str(path), labels, "video"))
        if not jobs and not errors:
            raise nothing_found(root, f"MEAD videos (<speaker>/video/{view}/<emotion>/level_<k>/*.mp4)")
        return jobs, errors

    def process(self, job: Job, out: Path, opts: PrepOptions) -> None:
        track_clip(job, out, opts)

    def finish(self, jobs: list[Job], out: Path, opts: PrepOptions) -> list[dict]:
        return fit_speakers(jobs, out, opts)
