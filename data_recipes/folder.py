"""Any folder of videos and audio files: `talkface prep folder ROOT [--labels CSV]`.

Videos are tracked and fitted, audio files kept as audio-only clips. Labels come from the CSV
(columns path, speaker, emotion, intensity, statement, take; `path` relative to ROOT, read as
`labels.read_labels` says); without it the labels come from CREMA-D's names (`1001_DFA_ANG_XX`)
where files are so named, else the speaker is the file's parent folder name and the emotion stays
empty. With a CSV, only the files it lists are taken, and a listed file that is missing or
neither video nor audio is reported.

One recording kept as several files must not be split apart, or a test clip's sound is trained
on through its twin. The CSV's `take` column names a recording; files of one speaker and one
name in different folders (CREMA-D's AudioWAV/X.wav and AudioMP3/X.mp3, a camera's video and a
recorder's wav copied under one name) are taken for one recording without it (`shared_takes`).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from talkface_cli.audio.io import is_video
from talkface_cli.errors import TalkfaceError
from talkface_cli.render.video import rendered_here
from talkface_cli.ui import some

from .audio import audio_clip
from .base import Job, PrepOptions, nothing_found
from .labels import MEDIA, clip_id, default_labels, listed_error, named_labels, read_labels
from .video import HOW, VERSION, fit_speakers, track_clip
from .visible import files_under


class Folder:
    name = "folder"
    how = HOW
    version = VERSION

    def discover(self, root: Path, opts: PrepOptions) -> tuple[list[Job], list[dict]]:
        if not root.is_dir():
            raise TalkfaceError(f"{root}: no such folder")
        table = read_labels(Path(opts.extra["labels"]), root) if opts.extra.get("labels") else None
        errors, made = [], []
        if table is None:
            paths = [p for p in files_under(root) if p.suffix.lower() in MEDIA]
            made = [p for p in paths if rendered_here(p)]  # `animate takes --render takes` put there
            paths = [p for p in paths if p not in made]
        else:
            usable = {rel for rel in table if (root / rel).is_file() and Path(rel).suffix.lower() in MEDIA}
            paths = [root / rel for rel in table if rel in usable]
            errors = [listed_error(root, rel, "a video or audio file") for rel in table if rel not in usable]
        jobs = []
        named = 0  # files whose names give their labels (CREMA-D's)
        for path in paths:
            rel = path.relative_to(root).as_posix()
            given = named_labels(path)  # a CSV's cells, where it has them, come before these
            labels = default_labels("folder", path) | given
            named += bool(given)
            if table is not None:
                labels |= {k: v for k, v in table[rel].items() if v is not None}
            jobs.append(Job(clip_id(root, path), str(path), labels, MEDIA[path.suffix.lower()]))
        renders = some([p.relative_to(root).as_posix() for p in made])
        if made and not jobs and not errors:
            raise TalkfaceError(
                f"{root}: no video or audio files found but {len(made)} that talkface rendered ({renders}); "
                "list one in --labels to take it"
            )
        if not jobs and not errors:
            raise nothing_found(root, "video or audio files")
        self.notes = shared_takes(jobs, root)
        if made:
            self.notes.append(
                f"{root}: passed over {len(made)} video(s) talkface rendered ({renders}): no face to learn "
                "from; list one in --labels to take it"
            )
        if named:
            self.notes.append(f"{root}: {named} file(s) labelled by their CREMA-D names (1001_DFA_ANG_XX)")
        return jobs, errors

    def process(self, job: Job, out: Path, opts: PrepOptions) -> None:
        """A video is tracked; an audio file, or a video file without a picture (a voice
        recorder's .mp4), is kept as an audio-only clip."""
        track_clip(job, out, opts) if is_video(Path(job.source)) else audio_clip(job, out)

    def finish(self, jobs: list[Job], out: Path, opts: PrepOptions) -> list[dict]:
        return fit_speakers(jobs, out, opts)


def shared_takes(jobs: list[Job], root: Path) -> list[str]:
    """Gives the jobs whose CSV row names no take, where files of one speaker share a name in
    different folders, the take `speaker/name`; returns the prep note saying so. (Two such files
    in one folder are one clip id: the second is reported by `base.unique_ids`.)"""
    named = defaultdict(list)  # speaker/name -> jobs
    for j in jobs:
        if j.labels.get("take") is None:
            named[f"{j.labels['speaker']}/{Path(j.source).stem}"].append(j)
    shared = {take: js for take, js in named.items() if len({j.id for j in js}) > 1}
    for take, js in shared.items():
        for j in js:
            j.labels["take"] = take
    if not shared:
        return []
    first, *rest = next(iter(shared.values()))
    twin = next(j for j in rest if j.id != first.id)
    a, b = (Path(j.source).relative_to(root).as_posix() for j in (first, twin))
    return [
        f"{root}: {len(shared)} recording(s) kept as several files of one speaker and name "
        f"({a} and {b}, ...) keep to one split each; a labels CSV's take column joins others"
    ]
