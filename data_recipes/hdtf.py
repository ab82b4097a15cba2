"""HDTF (high-definition talking faces): `talkface prep hdtf ROOT`.

Every clip under ROOT (mp4, or the webm/mkv a downloader may give) is tracked. HDTF's clips are
cut from YouTube videos and named `<video>_<k>` (its README; `_000` in the download scripts,
e.g. WRA_AmyKlobuchar0_000), and a person's videos are numbered (WDA_AmyKlobuchar0,
WDA_AmyKlobuchar1), so the speaker is the video's name without that number: a speaker split
keeps a person on one side. RD's radio addresses name no one (RD_Radio1 ... RD_Radio59) and are
one speaker, RD_Radio, for the same reason. The clips of one video are one take (they share a
split). A full-length download the clips are cut from (the scripts keep them in `_videos_raw/`)
repeats them, so it is passed over, in a note. HDTF has no emotion labels: emotion stays empty.

HDTF itself ships no videos: its HDTF_dataset folder gives each YouTube video's talking parts in
`<subset>_annotion_time.txt` (`Radio11.mp4 00:30-01:00 01:30-02:30`), and its README has the user
cut them into clips `Radio11_0`, `Radio11_1`. With `--annotations` a full-length video is cut here
(the part's frames and sound, no file written): its clips are `<video>_<k>`, each with its `span`
in seconds. A video found under its subset's prefix (RD_Radio11, as the download scripts name it)
or without it (Radio11, as the README does) is listed; one the annotations do not list is passed
over, as the download scripts do.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from talkface_cli.audio.io import VIDEO_SUFFIXES
from talkface_cli.csvfile import text_lines
from talkface_cli.errors import NoAudio, TalkfaceError, require_file

from .base import Job, PrepOptions, nothing_found
from .labels import clip_id, default_labels
from .video import HOW, VERSION, fit_speakers, track_clip
from .visible import files_under

# Why a full-length video is not taken as it is: (what happened, what to do), for the notes.
HAS_CLIPS = ("passed over, whose clips are here", "")
WHOLE = ("tracked whole", "; HDTF's clips are their talking parts: --annotations HDTF_dataset cuts them")
UNLISTED = ("passed over, not in the annotations", "")


class Hdtf:
    name = "hdtf"
    how = HOW
    version = VERSION
    content_extras = ("annotations",)  # cut or not, the same video gives other clips

    def discover(self, root: Path, opts: PrepOptions) -> tuple[list[Job], list[dict]]:
        if not root.is_dir():
            raise TalkfaceError(f"{root}: no such folder")
        given = opts.extra.get("annotations")
        spans = read_annotations(Path(given)) if given else None
        paths = [p for p in files_under(root) if p.suffix.lower() in VIDEO_SUFFIXES]
        cut = {video_of(p.stem) for p in paths if video_of(p.stem) != p.stem}  # videos with clips
        jobs, errors, full = [], [], defaultdict(list)  # full-length videos by what became of them
        for path in paths:
            video = video_of(path.stem)
            labels = default_labels("hdtf", path, speaker_of(video)) | {"take": video}
            parts = spans.get(path.stem) if spans is not None else None
            if path.stem in cut:
                full[HAS_CLIPS].append(path)
            elif video != path.stem or spans is None:  # a clip, or a video taken whole
                jobs.append(Job(clip_id(root, path), str(path), labels, "video"))
                if video == path.stem:
                    full[WHOLE].append(path)
            elif isinstance(parts, str):  # a name two subsets give
                errors.append({"id": clip_id(root, path), "source": str(path), "error": f"{path}: {parts}"})
            elif parts:
                jobs += [
                    Job(f"{clip_id(root, path)}_{k}", str(path), labels | {"span": s}, "video")
                    for k, s in enumerate(parts)
                ]
            else:
                full[UNLISTED].append(path)
        self.notes = [
            f"{root}: {len(found)} full-length video(s) {what} ({rel(root, found[0])}, ...){hint}"
            for (what, hint), found in full.items()
        ]
        if not jobs and not errors:
            raise nothing_found(root, f"videos ({', '.join(sorted(VIDEO_SUFFIXES))})")
        return jobs, errors

    def process(self, job: Job, out: Path, opts: PrepOptions) -> None:
        try:
            track_clip(job, out, opts)
        except NoAudio as e:  # HDTF's own download.py fetches YouTube's picture stream alone
            raise TalkfaceError(f"{e}: download it with its sound (yt-dlp -f bestvideo+bestaudio)") from None

    def finish(self, jobs: list[Job], out: Path, opts: PrepOptions) -> list[dict]:
        return fit_speakers(jobs, out, opts)


def rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def video_of(stem: str) -> str:
    """The video an HDTF clip is cut from: its name without the clip index `_<k>`."""
    return re.sub(r"_\d+$", "", stem)


def speaker_of(video: str) -> str:
    """The person of an HDTF video: its name without the number of that person's video."""
    return re.sub(r"\d+$", "", video) or video


def read_annotations(path: Path) -> dict[str, list[list[float]] | str]:
    """HDTF's talking parts: a folder of `<subset>_annotion_time.txt` (HDTF_dataset, or the clone
    of HDTF's repository that holds it) or one such file. Returns video name -> [[start, end]
    seconds, ...], under the subset's prefix (RD_Radio11) and without it (Radio11); a bare name
    two subsets give maps to why it is refused."""
    if path.is_dir():
        files = sorted(path.glob("*_time.txt")) or sorted(path.glob("HDTF_dataset/*_time.txt"))
    else:
        files = [require_file(path)]
    if not files:
        raise TalkfaceError(f"{path}: no HDTF annotations here (RD_annotion_time.txt, WDA_..., WRA_...)")
    spans: dict[str, list[list[float]] | str] = {}
    for file in files:
        subset = re.fullmatch(r"([A-Za-z0-9]+)_annot[a-z]*_time", file.stem)
        for video, parts in read_times(file).items():
            if subset:
                spans[f"{subset[1]}_{video}"] = parts
            two = video in spans and spans[video] != parts
            spans[video] = f"named in two subsets' annotations; call it <subset>_{video}" if two else parts
    return spans


def read_times(path: Path) -> dict[str, list[list[float]]]:
    """One xx_annotion_time.txt: `Radio11.mp4 00:30-01:00 01:30-02:30` -> {"Radio11": [[30, 60],
    [90, 150]]}; times are [hh:]mm:ss (seconds may have decimals); a bad line is an error naming it."""
    lines = text_lines(path, "the annotation file", "save it as UTF-8, as HDTF's are")
    out = {}
    for i, line in enumerate(lines, 1):
        name, *parts = line.split() or [""]
        if not name:
            continue
        try:
            if not parts:
                raise ValueError(f"{name} has no times")
            out[Path(name).stem] = [span(p) for p in parts]
        except ValueError as e:
            raise TalkfaceError(f"{path}: line {i}: {e}") from None
    return out


def span(text: str) -> list[float]:
    """`00:30-01:00` -> [30.0, 60.0]."""
    start, _, end = text.partition("-")
    a, b = seconds(start), seconds(end)
    if b <= a:
        raise ValueError(f"{text} ends before it begins")
    return [a, b]


def seconds(stamp: str) -> float:
    """`01:30`, `1:01:30` or `01:30.5` -> seconds."""
    m = re.fullmatch(r"(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)", stamp.strip())
    if not m:
        raise ValueError(f"{stamp!r} is not a time (mm:ss)")
    return int(m[1] or 0) * 3600 + int(m[2]) * 60 + float(m[3])
