"""HDTF (high-definition talking faces): `talkface prep hdtf ROOT`.

Every clip under ROOT (mp4, or the webm/mkv a downloader may give) is tracked. HDTF's clips are
cut from YouTube videos and named `<video>_<k>` (its README; `_000` in the download scripts,
e.g. WRA_AmyKlobuchar0_000), and a person's videos are numbered (WDA_AmyKlobuchar0,
WDA_AmyKlobuchar1), so the speaker is the video's name without that number: a speaker split
keeps a person on one side. RD's radio addresses name no one (RD_Radio1 ... RD_Radio59) and are
one speaker, RD_Radio, for the same reason. The clips of one video are one take (they share a
split). A full-length download the clips are cut from (the scripts keep them in `_videos_raw/`)
repeats them, so it is passed over, in a note. HDTF has no emotion labels: emotion stays empty.
"""

from __future__ import annotations

import re
from pathlib import Path

from talkface_cli.audio.io import VIDEO_SUFFIXES
from talkface_cli.errors import NoAudio, TalkfaceError

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
        paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
        cut = {video_of(p.stem) for p in paths if video_of(p.stem) != p.stem}  # videos with clips
        sources = [p for p in paths if p.stem in cut]
        jobs = []
        for path in paths:
            if path.stem in cut:
                continue
            video = video_of(path.stem)
            labels = default_labels("hdtf", path, speaker_of(video)) | {"take": video}
            jobs.append(Job(clip_id(root, path), str(path), labels, "video"))
        self.notes = []
        if sources:
            first = sources[0].relative_to(root).as_posix()
            self.notes.append(
                f"{root}: {len(sources)} full-length video(s) passed over, whose clips are here "
                f"({first}, ...)"
            )
        if not jobs:
            raise nothing_found(root, f"videos ({', '.join(sorted(VIDEO_SUFFIXES))})")
        return jobs, []

    def process(self, job: Job, out: Path, opts: PrepOptions) -> None:
        try:
            track_clip(job, out, opts)
        except NoAudio as e:  # HDTF's own download.py fetches YouTube's picture stream alone
            raise TalkfaceError(f"{e}: download it with its sound (yt-dlp -f bestvideo+bestaudio)") from None

    def finish(self, jobs: list[Job], out: Path, opts: PrepOptions) -> list[dict]:
        return fit_speakers(jobs, out, opts)


def video_of(stem: str) -> str:
    """The video an HDTF clip is cut from: its name without the clip index `_<k>`."""
    return re.sub(r"_\d+$", "", stem)


def speaker_of(video: str) -> str:
    """The person of an HDTF video: its name without the number of that person's video."""
    return re.sub(r"\d+$", "", video) or video
