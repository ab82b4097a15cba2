"""Label tables for recipes whose file names carry no labels (`--labels CSV`)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from talkface_cli.audio.io import VIDEO_SUFFIXES
from talkface_cli.errors import TalkfaceError

COLUMNS = ("path", "speaker", "emotion", "intensity", "statement")
# Other corpora's words for RAVDESS's emotion names (MEAD's folders, noun forms): one class each.
SYNONYMS = {
    "happiness": "happy",
    "anger": "angry",
    "sadness": "sad",
    "fear": "fearful",
    "disgusted": "disgust",
    "surprise": "surprised",
}
MEDIA = {
    **{s: "audio" for s in (".wav", ".flac", ".mp3", ".m4a", ".ogg")},
    **{s: "video" for s in sorted(VIDEO_SUFFIXES)},  # the suffixes the audio reader sends to ffmpeg
}


def read_labels(path: Path) -> dict[str, dict]:
    """CSV with a header; `path` (relative to the corpus root) is required, then any of speaker,
    emotion, intensity, statement. Returns relative path -> labels."""
    path = Path(path)
    try:
        rows = list(csv.DictReader(path.read_text().splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise TalkfaceError(f"{path}: cannot read the labels CSV ({e})") from None
    if not rows or "path" not in rows[0]:
        raise TalkfaceError(
            f"{path}: the labels CSV needs a header with a 'path' column ({', '.join(COLUMNS)})"
        )
    out = {}
    for i, r in enumerate(rows, 2):
        labels = {k: (r.get(k) or "").strip() or None for k in COLUMNS[1:]}
        if labels["emotion"] is not None:
            labels["emotion"] = emotion_name(labels["emotion"])
        if labels["intensity"] is not None:
            try:
                labels["intensity"] = int(labels["intensity"])
            except ValueError:
                raise TalkfaceError(
                    f"{path}: line {i}: intensity {labels['intensity']!r} is not a whole number"
                ) from None
        out[r["path"].strip()] = labels
    return out


def emotion_name(label: str) -> str:
    """One spelling per emotion, so stores and `--emotion` agree: lower case, RAVDESS's names
    ('Happiness' -> 'happy', 'fear' -> 'fearful'); other labels (e.g. 'contempt') kept."""
    label = label.strip().lower()
    return SYNONYMS.get(label, label)


def clip_id(root: Path, path: Path) -> str:
    """A file-system-safe id from the path relative to the corpus root."""
    rel = path.relative_to(root).with_suffix("")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "__".join(rel.parts))


def default_labels(corpus: str, path: Path, speaker: str | None = None) -> dict:
    """The labels of a file no table describes: its parent folder (or `speaker`) as the speaker."""
    return {
        "corpus": corpus,
        "speaker": speaker or path.parent.name,
        "emotion": None,
        "intensity": None,
        "statement": None,
    }
