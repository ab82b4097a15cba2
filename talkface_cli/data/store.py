"""The clip store: a folder with `manifest.jsonl`, `prep.json` and one `clips/<id>.npz` per clip.

A clip file holds `audio` (N,) float32 16 kHz mono and, for clips with a face, `params` (T, D)
float32 at 25 fps with `param_names` and `face_model`, `pose` (T, 6), `shape` (S,) (the speaker's),
and `landmarks` (T, L, 3) when tracked. Each clip also has a `clips/<id>.json` sidecar with its
manifest fields; both are written atomically, so an interrupted prep resumes by skipping clips
whose two files exist. `manifest.jsonl` is assembled from the sidecars, with the split, at the end.
Tracked video also leaves `speakers/<speaker>.json`, the face shape fitted to a speaker's clips.
"""

from __future__ import annotations

import hashlib
import json
import random
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TalkfaceError, require_finite, stop_signals_held
from ..fsutil import atomic_open, atomic_write_bytes, atomic_write_json, json_text

FPS, SAMPLE_RATE = 25, 16000
HOP = SAMPLE_RATE // FPS  # 640 audio samples per video frame
FIELDS = (
    "id",
    "corpus",
    "speaker",
    "emotion",
    "intensity",
    "statement",
    "split",
    "fps",
    "frames",
    "duration",
    "face_model",
    "source",
)
SPLITS = ("train", "val", "test")


def clip_paths(root: Path, clip_id: str) -> tuple[Path, Path]:
    return Path(root) / "clips" / f"{clip_id}.npz", Path(root) / "clips" / f"{clip_id}.json"


def speaker_path(root: Path, speaker: str) -> Path:
    """The face shape fitted to a tracked speaker's clips."""
    return Path(root) / "speakers" / f"{speaker}.json"


FINITE = ("params", "pose", "audio")  # a clip's arrays that must hold finite numbers
PER_FRAME = ("params", "pose", "landmarks")  # a face clip's arrays with a row per video frame


def is_written(root: Path, clip_id: str) -> bool:
    npz, side = clip_paths(root, clip_id)
    return npz.is_file() and side.is_file()


def write_clip(root: Path, record: dict, arrays: dict[str, Any]) -> dict:
    """Write one clip (arrays first, then the sidecar that marks it complete); returns the record.
    A clip holding NaN or infinite values is refused, named by its source."""
    for key in FINITE:
        require_finite(arrays.get(key), f"{record.get('source') or record['id']}: its {key}")
    audio = arrays["audio"]
    params = arrays.get("params")
    frames = len(params) if params is not None else round(len(audio) / HOP)
    record = {
        **record,
        "fps": FPS,
        "frames": int(frames),
        "duration": round(len(audio) / SAMPLE_RATE, 4),
        "face_model": arrays.get("face_model") if params is not None else None,
    }
    npz, side = clip_paths(root, record["id"])
    write_npz(npz, {k: v for k, v in arrays.items() if v is not None})
    atomic_write_json(side, record)
    return record


def write_npz(path: Path, arrays: dict[str, Any]) -> None:
    """An .npz whose bytes depend only on the arrays (fixed zip timestamps), so stores made twice
    from one seed are byte-identical; written through a temporary file, not built in memory (an
    hour-long clip's bytes are 0.3 GB)."""
    with atomic_open(path) as out, zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(value), allow_pickle=False)


def load_clip(root: Path, clip_id: str) -> dict[str, np.ndarray]:
    npz, _ = clip_paths(root, clip_id)
    try:
        with np.load(npz, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise TalkfaceError(f"{npz}: unreadable clip file ({e})") from None


def realigned(arrays: dict[str, Any], offset: int) -> dict[str, Any]:
    """A face clip's arrays with its sound moved `offset` frames earlier (offset > 0: the sound
    lagged the face; < 0: it led), where face and sound overlap: |offset| frames shorter, the face's
    rows and the sound's samples cut from opposite ends. Other arrays (shape, names) as they are."""
    k = abs(offset)
    t, n = len(arrays["params"]), len(arrays["audio"])
    faces, sound = (
        (slice(0, t - k), slice(k * HOP, n)) if offset > 0 else (slice(k, t), slice(0, n - k * HOP))
    )
    out = {key: value[faces] if key in PER_FRAME else value for key, value in arrays.items()}
    if "phonemes" in arrays:  # synthetic clips: JSON [[phoneme, onset s], ...] in the sound's time
        out["phonemes"] = np.array(
            json.dumps(phonemes_from(json.loads(str(arrays["phonemes"])), sound.start / SAMPLE_RATE))
        )
    return out | {"audio": arrays["audio"][sound]}


def phonemes_from(phonemes: list, start: float) -> list:
    """Phoneme onsets of a sound cut at `start` s: the phoneme sounding there now starts at 0, those
    before it go."""
    kept = [[p, round(t - start, 6)] for p, t in phonemes if t > start]
    before = [p for p, t in phonemes if t <= start]
    return ([[before[-1], 0.0]] if before else []) + kept


def realign(root: Path, clip_id: str, offset: int) -> dict:
    """Move a face clip's sound `offset` frames earlier (`realigned`) in its files; its cached
    derived arrays go first (a pooled emotion keeps its row count, so a stale one would be read).
    The sidecar keeps the total moved as `sound_shift_frames` and, where the face now starts later,
    `start_s` in its source; `manifest_from_sidecars` then takes them into the manifest. Held
    against Ctrl-C, so the clip and its sidecar agree. Returns the new sidecar record."""
    from .cache import forget  # through the registry, torch: not for every recipe's worker

    record = json.loads(clip_paths(root, clip_id)[1].read_text())
    moved = {"sound_shift_frames": record.get("sound_shift_frames", 0) + offset}
    if offset < 0 and "start_s" in record:
        moved["start_s"] = round(record["start_s"] - offset / FPS, 4)
    arrays = load_clip(root, clip_id)
    arrays["face_model"] = str(arrays["face_model"])  # a 0-d array as saved; the sidecar takes a str
    with stop_signals_held():
        forget(root, clip_id)
        return write_clip(root, record | moved, realigned(arrays, offset))


SHIFTED = ("frames", "duration", "sound_shift_frames", "start_s")  # the fields `realign` changes


def manifest_from_sidecars(root: Path) -> list[dict]:
    """The manifest, its records of realigned clips taking SHIFTED from their sidecars where the
    two differ (written once for all of them; a run stopped between a clip and the manifest left
    them apart). Returns the records."""
    records, changed = read_manifest(root), False
    for i, r in enumerate(records):
        side = clip_paths(root, r["id"])[1]
        now = json.loads(side.read_text()) if side.is_file() else {}
        if now.get("sound_shift_frames") != r.get("sound_shift_frames"):
            records[i], changed = r | {k: now[k] for k in SHIFTED if k in now}, True
    if changed:
        write_manifest(root, records)
    return records


def assign_splits(
    records: list[dict],
    seed: int,
    by: str = "clip",
    fractions=(0.8, 0.1, 0.1),
    test_speakers: list[str] | None = None,
    val_speakers: list[str] | None = None,
) -> None:
    """Seeded split in place: `by` clip or speaker (80/10/10), or explicit speaker lists.

    A record's `take` names the recording it comes from, where a corpus holds one recording as
    several files (RAVDESS: an audio-video .mp4 and an audio-only .wav of the same performance).
    Clips of one take share a split, so a test clip's sound is never trained on as its twin. A
    clip with no twin is keyed by its id as before, so a store without twins keeps its split."""
    if test_speakers or val_speakers:
        test, val = set(test_speakers or []), set(val_speakers or [])
        for r in records:
            r["split"] = "test" if r["speaker"] in test else "val" if r["speaker"] in val else "train"
        return
    if by not in ("clip", "speaker"):
        raise TalkfaceError(f"--split-by {by}: use clip or speaker")
    takes = Counter(r["take"] for r in records if r.get("take"))
    key = lambda r: (  # noqa: E731
        r["speaker"] if by == "speaker" else r["take"] if takes[r.get("take")] > 1 else r["id"]
    )
    keys = sorted({key(r) for r in records})
    random.Random(seed).shuffle(keys)
    n = len(keys)
    n_train = round(n * fractions[0])
    n_val = round(n * fractions[1]) if n >= 3 else 0
    which = {
        k: "train" if i < n_train else "val" if i < n_train + n_val else "test" for i, k in enumerate(keys)
    }
    for r in records:
        r["split"] = which[key(r)]


def assemble_manifest(root: Path) -> list[dict]:
    """All complete clips' sidecars, sorted by id (no split yet)."""
    records = []
    for side in sorted((Path(root) / "clips").glob("*.json")):
        if side.with_suffix(".npz").is_file():
            records.append(json.loads(side.read_text()))
    return records


def write_manifest(root: Path, records: list[dict]) -> Path:
    lines = "".join(
        json_text(
            {k: r.get(k) for k in FIELDS} | {k: v for k, v in r.items() if k not in FIELDS},
            indent=None,
            sort_keys=False,
        )
        + "\n"
        for r in records
    )
    atomic_write_bytes(Path(root) / "manifest.jsonl", lines.encode())
    return Path(root) / "manifest.jsonl"


def read_manifest(root: Path) -> list[dict]:
    path = Path(root) / "manifest.jsonl"
    if not path.is_file():
        raise TalkfaceError(f"{root}: not a clip store (no manifest.jsonl; run `talkface prep` first)")
    out = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            raise TalkfaceError(f"{path}: line {i} is not valid JSON") from None
    return out


def manifest_hash(root: Path) -> str:
    return hashlib.sha256((Path(root) / "manifest.jsonl").read_bytes()).hexdigest()[:16]


def validate(root: Path) -> list[str]:
    """Problems of a store, one line each (empty when it is sound)."""
    problems = []
    records = read_manifest(root)
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        problems.append("duplicate clip ids in manifest.jsonl")
    for r in records:
        npz, _ = clip_paths(root, r["id"])
        if not npz.is_file():
            problems.append(f"{r['id']}: clip file missing")
            continue
        try:
            clip = load_clip(root, r["id"])
        except TalkfaceError as e:
            problems.append(str(e))
            continue
        n = len(clip.get("audio", ()))
        if n == 0:
            problems.append(f"{r['id']}: no audio")
        if r.get("split") not in SPLITS:
            problems.append(f"{r['id']}: split {r.get('split')!r} is not train/val/test")
        if "params" in clip:
            t = len(clip["params"])
            if t != r["frames"]:
                problems.append(f"{r['id']}: {t} parameter frames, manifest says {r['frames']}")
            if abs(n - t * HOP) > HOP:
                problems.append(f"{r['id']}: {n} audio samples for {t} frames (expected {t * HOP} +- {HOP})")
            if "pose" in clip and clip["pose"].shape != (t, 6):
                problems.append(f"{r['id']}: pose has shape {clip['pose'].shape}, expected ({t}, 6)")
        for key in FINITE:  # a pose of infinities renders nothing
            if key in clip and not np.isfinite(clip[key]).all():
                problems.append(f"{r['id']}: non-finite values in its {key}")
    return problems
