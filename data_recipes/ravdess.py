"""RAVDESS (Livingstone & Russo 2018; CC BY-NC-SA 4.0): `talkface prep ravdess ROOT`.

Takes full audio-video clips `01-*.mp4` (tracked and fitted) and audio-only clips `03-*.wav|.flac`
at any folder depth, unpacked or inside the zips RAVDESS is downloaded as (read in place). Labels
come from the name MM-VV-EE-II-SS-RR-AA: modality, vocal channel (01 speech, 02 song), emotion,
intensity (01 normal, 02 strong), statement, repetition, actor.
Sung clips are passed over (and counted in a note) unless `--song`: EcoFace trains on RAVDESS's
1440 speech clips, and a sung vowel is held for beats, not spoken.
"""

from __future__ import annotations

from pathlib import Path

from talkface_cli.errors import TalkfaceError

from .audio import audio_clip
from .base import Job, PrepOptions, nothing_found
from .packed import member_source, members
from .video import HOW, VERSION, fit_speakers, track_clip
from .visible import files_under

EMOTIONS = {
    1: "neutral",
    2: "calm",
    3: "happy",
    4: "sad",
    5: "angry",
    6: "fearful",
    7: "disgust",
    8: "surprised",
}
STATEMENTS = {1: "Kids are talking by the door", 2: "Dogs are sitting by the door"}
SUFFIXES = {".mp4": "01", ".wav": "03", ".flac": "03"}


def parse_name(path: Path) -> dict:
    """Labels from a RAVDESS file name; a TalkfaceError names what is wrong."""
    parts = path.stem.split("-")
    if len(parts) != 7 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise TalkfaceError(
            f"{path}: not a RAVDESS name (expected MM-VV-EE-II-SS-RR-AA, e.g. 03-01-05-02-01-01-12)"
        )
    modality, vocal, emotion, intensity, statement, repetition, actor = map(int, parts)
    if emotion not in EMOTIONS or intensity not in (1, 2) or statement not in (1, 2) or vocal not in (1, 2):
        raise TalkfaceError(f"{path}: label codes out of range in the RAVDESS name")
    if emotion == 1 and intensity == 2:
        raise TalkfaceError(f"{path}: RAVDESS has no strong-intensity neutral")
    return {
        "corpus": "ravdess",
        "speaker": f"{actor:02d}",
        "emotion": EMOTIONS[emotion],
        "intensity": intensity,
        "statement": STATEMENTS[statement],
        "repetition": repetition,
        "vocal": "speech" if vocal == 1 else "song",
        "modality": modality,
    }


class Ravdess:
    name = "ravdess"
    how = HOW
    version = VERSION

    def discover(self, root: Path, opts: PrepOptions) -> tuple[list[Job], list[dict]]:
        if not root.is_dir():
            raise TalkfaceError(f"{root}: no such folder")
        jobs, errors, songs = [], [], 0
        sources, twice = _sources(root, errors)
        for path in sorted(sources):
            if path.suffix.lower() not in SUFFIXES or not path.name[:2].isdigit():
                continue  # not a corpus file (readme, notes...)
            try:
                labels = parse_name(path)
            except TalkfaceError as e:
                errors.append({"id": path.stem, "source": str(path), "error": str(e)})
                continue
            wanted = SUFFIXES[path.suffix.lower()]
            if f"{labels.pop('modality'):02d}" != wanted:
                continue  # video-only (02-) clips, or a modality that does not fit the suffix
            if labels["vocal"] == "song" and not opts.extra.get("song"):
                songs += 1
                continue
            jobs.append(Job(path.stem, str(path), labels, "video" if wanted == "01" else "audio"))
        self.notes = [f"{root}: {songs} sung clip(s) passed over (--song takes them)"] if songs else []
        if twice:
            self.notes.append(f"{root}: {twice} unpacked file(s) also in a zip there, read from the zip")
        if not jobs and not errors:
            if songs:
                raise TalkfaceError(f"{root}: only sung RAVDESS clips ({songs}); --song takes them")
            what = "RAVDESS files (01-*.mp4, 03-*.wav, 03-*.flac; in folders or zips)"
            raise nothing_found(root, what, read=".zip")
        return jobs, errors

    @staticmethod
    def take(record: dict) -> str:
        """The performance a clip records: its name without the modality code. An audio-video
        01-*.mp4 and an audio-only 03-*.wav of the same name are one recording (their sound
        correlates at 0.99), so they share a split, as do the parts a video is cut into."""
        return record.get("part_of", record["id"])[3:]

    def process(self, job: Job, out: Path, opts: PrepOptions) -> None:
        if job.kind == "video":
            track_clip(job, out, opts)
        else:
            audio_clip(job, out)

    def finish(self, jobs: list[Job], out: Path, opts: PrepOptions) -> list[dict]:
        return fit_speakers(jobs, out, opts)


def _sources(root: Path, errors: list[dict]) -> tuple[list[Path], int]:
    """The files under ROOT and in its zips (RAVDESS's download: Video_Speech_Actor_01.zip ...,
    read in place), a member as `ARCHIVE.zip:MEMBER`, and how many files were passed over for the
    member of their name: a zip is whole where an unzip stopped half-way is not. A zip that cannot
    be read is an error (and its unpacked files are taken)."""
    files = files_under(root)
    packed = []
    for z in (p for p in files if p.suffix.lower() == ".zip"):
        try:
            packed += [Path(member_source(z, name)) for name in members(z)]
        except TalkfaceError as e:
            errors.append({"id": z.stem, "source": str(z), "error": str(e)})
    inside = {p.name for p in packed}
    unpacked = [p for p in files if p.name not in inside]
    return packed + unpacked, len(files) - len(unpacked)
