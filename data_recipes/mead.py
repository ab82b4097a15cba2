"""MEAD: `talkface prep mead ROOT` (ROOT holds speaker folders, or is one).

Layout per speaker: video/<view>/<emotion>/level_<k>/NNN.mp4 with audio/<emotion>/level_<k>/NNN.m4a,
as MEAD's download gives them, video.tar and audio.tar, or unpacked. An archive is read in place
(a view unpacked is a seventh of video.tar, and the whole of it is not needed), and taken before a
folder beside it, which a stopped `tar x` may have left half done. Only the `--view` camera
(default front) is taken; the audio comes from the .m4a when present, else from the video.
Emotions are renamed to the toolkit's labels (disgusted -> disgust, fear -> fearful); the level
(1-3) is the intensity. Speakers without the view (MEAD lacks some) are named in a note.
"""

from __future__ import annotations

import re
from pathlib import Path

from talkface_cli.errors import TalkfaceError

from .base import Job, PrepOptions, nothing_found
from .labels import emotion_name
from .packed import member_source, members
from .video import HOW, VERSION, fit_speakers, track_clip
from .visible import files_under, system_made

# Paths inside a speaker's folder or archive (whose members may carry a leading folder).
_LEVEL = r"(?P<emotion>[^/]+)/(?P<level>level_[^/]*)/(?P<stem>[^/]+)"
_VIDEO = re.compile(rf"(?:^|/)video/(?P<view>[^/]+)/{_LEVEL}\.mp4$")
_AUDIO = re.compile(rf"(?:^|/)audio/{_LEVEL}\.m4a$")


class Mead:
    name = "mead"
    how = HOW
    version = VERSION

    def discover(self, root: Path, opts: PrepOptions) -> tuple[list[Job], list[dict]]:
        if not root.is_dir():
            raise TalkfaceError(f"{root}: no such folder")
        view = opts.extra.get("view", "front")
        speakers = {p.parent for p in files_under(root, "video.tar")}
        folders = (p for p in root.rglob("video") if not system_made(p.relative_to(root).parts))
        speakers |= {p.parent for p in folders if p.is_dir()}
        jobs, errors, others = [], [], {}  # others: speaker -> the views it has, when not `view`
        for speaker in sorted(speakers):
            try:
                videos, sounds = (_files(speaker, part) for part in ("video", "audio"))
                found, bad, views = _speaker_jobs(speaker.name, view, videos, sounds)
            except TalkfaceError as e:  # an archive that cannot be read: its speaker, not the rest
                errors.append({"id": speaker.name, "source": str(speaker), "error": str(e)})
                continue
            jobs, errors = jobs + found, errors + bad
            if not found and not bad and views:
                others[speaker.name] = views
            elif not views and (archive := speaker / "video.tar").is_file():
                why = f"{archive}: no MEAD videos in it (video/<view>/<emotion>/level_<k>/NNN.mp4)"
                errors.append({"id": speaker.name, "source": str(archive), "error": why})
        self.notes = [
            f"{name}: no {view} videos, passed over (its views: {', '.join(sorted(v))}; --view picks one)"
            for name, v in others.items()
        ]
        if not jobs and errors:
            raise TalkfaceError(errors[0]["error"])
        if not jobs:
            raise nothing_found(root, f"MEAD videos (<speaker>/video/{view}/<emotion>/level_<k>/*.mp4)")
        return jobs, errors

    def process(self, job: Job, out: Path, opts: PrepOptions) -> None:
        track_clip(job, out, opts)

    def finish(self, jobs: list[Job], out: Path, opts: PrepOptions) -> list[dict]:
        return fit_speakers(jobs, out, opts)


def _files(speaker: Path, part: str) -> dict[str, str]:
    """A speaker's video or audio files, path inside the speaker -> source: from `part`.tar when
    there is one, else from the folder `part`/."""
    archive = speaker / f"{part}.tar"
    if archive.is_file():
        return {name: member_source(archive, name) for name in members(archive)}
    return {p.relative_to(speaker).as_posix(): str(p) for p in files_under(speaker / part, "*.*")}


def _speaker_jobs(
    speaker: str, view: str, videos: dict[str, str], sounds: dict[str, str]
) -> tuple[list[Job], list[dict], set[str]]:
    """One speaker's clips of `view`, an error for each level folder without a number, and the
    views it has."""
    audio = {m.group("emotion", "level", "stem"): src for n, src in sounds.items() if (m := _AUDIO.search(n))}
    found, bad, views = [], [], set()
    for name, source in sorted(videos.items()):
        if not (m := _VIDEO.search(name)):
            continue
        views.add(m["view"])
        if m["view"] != view:
            continue
        emotion, level, stem = key = m.group("emotion", "level", "stem")
        clip = f"{speaker}_{emotion}_{level}_{stem}"
        try:
            intensity = int(level.removeprefix("level_"))
        except ValueError:
            bad.append({"id": clip, "source": source, "error": f"{source}: bad level folder {level!r}"})
            continue
        labels = {
            "corpus": "mead",
            "speaker": speaker,
            "emotion": emotion_name(emotion),
            "intensity": intensity,
            "statement": None,
            "view": view,
        }
        if key in audio:
            labels["audio_source"] = audio[key]
        found.append(Job(clip, source, labels, "video"))
    return found, bad, views
