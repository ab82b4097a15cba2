"""Label tables for recipes whose file names carry no labels (`--labels CSV`), and the labels of
the names that do (CREMA-D's, read by `prep folder`)."""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

from talkface_cli.audio.io import VIDEO_SUFFIXES
from talkface_cli.csvfile import number, read_rows
from talkface_cli.errors import TalkfaceError

# `take` names the recording a file holds, where one recording is kept as several files (a
# camera's video and a recorder's wav): rows of one take share a split (`store.assign_splits`).
COLUMNS = ("path", "speaker", "emotion", "intensity", "statement", "take")
# Other corpora's words for RAVDESS's emotion names (MEAD's folders, noun forms): one class each.
SYNONYMS = {
    "happiness": "happy",
    "anger": "angry",
    "sadness": "sad",
    "fear": "fearful",
    "disgusted": "disgust",
    "surprise": "surprised",
    # CREMA-D's and IEMOCAP's codes (their other classes, e.g. IEMOCAP's "fru", are kept as written)
    "neu": "neutral",
    "hap": "happy",
    "ang": "angry",
    "fea": "fearful",
    "dis": "disgust",
    "sur": "surprised",
}
# Intensity words: CREMA-D's LO / MD / HI (XX: unspecified), RAVDESS's normal / strong.
INTENSITIES = {
    "lo": 1,
    "low": 1,
    "md": 2,
    "mid": 2,
    "medium": 2,
    "hi": 3,
    "high": 3,
    "normal": 1,
    "strong": 2,
}
MEDIA = {
    **{
        s: "audio"
        for s in (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".aac", ".aif", ".aiff", ".wma")
    },
    **{s: "video" for s in sorted(VIDEO_SUFFIXES)},  # the suffixes the audio reader sends to ffmpeg
}


def read_labels(path: Path, root: Path) -> dict[str, dict]:
    """CSV with a header; `path` (relative to the corpus root ROOT, or absolute inside it) is
    required, then any of speaker, emotion, intensity, statement, take; header names in any case, the
    file as spreadsheets save it (`csvfile.read_rows`). Returns the path relative to ROOT in POSIX
    form ("a/b.wav": no "./", Windows' backslashes made slashes) -> labels."""
    path = Path(path)
    rows = read_rows(path, "the labels CSV")
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if "path" not in header:
        raise TalkfaceError(
            f"{path}: the labels CSV needs a header with a 'path' column ({', '.join(COLUMNS)})"
        )
    out, lines_of = {}, {}
    for i, cells in enumerate(rows[1:], 2):
        if not "".join(cells).strip():  # a blank line
            continue
        r = dict(zip(header, cells))
        rel = corpus_path(r.get("path") or "", root, f"{path}: line {i}")
        labels = {k: (r.get(k) or "").strip() or None for k in COLUMNS[1:]}
        if labels["emotion"] is not None:
            labels["emotion"] = emotion_name(labels["emotion"])
        if labels["intensity"] is not None:
            labels["intensity"] = intensity(labels["intensity"], f"{path}: line {i}: intensity")
        if out.get(rel, labels) != labels:
            raise TalkfaceError(f"{path}: lines {lines_of[rel]} and {i} give {rel} different labels")
        out[rel], lines_of[rel] = labels, i
    return out


# CREMA-D's file names: speaker, sentence, emotion, level (1001_DFA_ANG_XX).
CREMA_D = re.compile(
    r"(?P<speaker>\d{4})_(?P<statement>[A-Z]{3})_(?P<emotion>ANG|DIS|FEA|HAP|NEU|SAD)_(?P<level>LO|MD|HI|XX)"
)


def named_labels(path: Path) -> dict:
    """The labels a file's name gives where it is a corpus's own (CREMA-D's), else none."""
    m = CREMA_D.fullmatch(path.stem)
    if m is None:
        return {}
    return {
        "speaker": m["speaker"],
        "emotion": emotion_name(m["emotion"]),
        "intensity": intensity(m["level"], f"{path}: level"),
        "statement": m["statement"],
    }


def intensity(cell: str, what: str) -> int | None:
    """An intensity level: a whole number ("2", or "2.0" as a spreadsheet may write it) or a word
    (`INTENSITIES`; "XX", CREMA-D's unspecified level, is None)."""
    word = cell.strip().lower()
    if word == "xx":
        return None
    try:
        value = float(INTENSITIES.get(word) or number(cell))
    except ValueError:
        value = float("nan")
    if not value.is_integer():
        raise TalkfaceError(f"{what} {cell!r} is not a whole number or a level (low, medium, high)")
    return int(value)


def corpus_path(cell: str, root: Path, where: str) -> str:
    """A file named in a table, as its path relative to ROOT in POSIX form; `where` begins the
    error for a file outside ROOT or no path at all."""
    name = cell.strip().replace("\\", "/")
    if not name:
        raise TalkfaceError(f"{where}: the path is empty")
    rel = posixpath.normpath(os.path.relpath(os.path.abspath(Path(root) / name), os.path.abspath(root)))
    if rel.split("/")[0] in (".", ".."):
        raise TalkfaceError(f"{where}: {cell.strip()} is not a file inside {root}")
    return rel


def listed_error(root: Path, rel: str, wanted: str) -> dict:
    """The prep error of a file (or a Live Link take's folder) a labels table names that is missing
    or not `wanted`."""
    problem = f"listed, but not {wanted}" if (root / rel).exists() else "listed but missing"
    return {"id": rel, "source": str(root / rel), "error": f"{root / rel}: {problem}"}


def emotion_name(label: str) -> str:
    """One spelling per emotion, so stores and `--emotion` agree: lower case, RAVDESS's names
    ('Happiness' -> 'happy', 'fear' -> 'fearful'); other labels (e.g. 'contempt') kept."""
    label = label.strip().lower()
    return SYNONYMS.get(label, label)


def clip_id(root: Path, path: Path) -> str:
    """A file-system-safe id from the path relative to the corpus root."""
    rel = path.relative_to(root).with_suffix("")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "__".join(rel.parts))


def part_id(clip_id: str, k: int) -> str:
    """The id of part k (from 1) of a video cut where its face is missed (`video.parts`): the first
    part keeps the video's id, the others `<id>+part<k>` (a `+` no file's `clip_id` has, so a
    file named `<video>_part2` beside the video keeps its own clip)."""
    return clip_id if k == 1 else f"{clip_id}+part{k}"


def part_labels(labels: dict, clip_id: str) -> dict:
    """The labels of a part of the video `clip_id`: the video's; its take, where none is given, is
    the video, so that its parts share a split (they are one recording)."""
    return labels | {"take": labels.get("take") or clip_id}


def default_labels(corpus: str, path: Path, speaker: str | None = None) -> dict:
    """The labels of a file no table describes: its parent folder (or `speaker`) as the speaker."""
    return {
        "corpus": corpus,
        "speaker": speaker or path.parent.name,
        "emotion": None,
        "intensity": None,
        "statement": None,
        "take": None,
    }
