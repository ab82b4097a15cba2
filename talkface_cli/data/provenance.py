"""What a model trained on, recorded with it, so an evaluation can prove its clips held out.

A store may be split again after a model trained on it (`prep` with another `--seed` or
`--split-by`), or copied into another store: its test split would then hold clips the model
learnt. Clip ids and store paths do not tell (two synthetic stores share ids; a store moves), so
each training clip is recorded by a fingerprint of its sound: the first 16 hex digits of the
sha256 of its 16 kHz float32 samples, as the store holds them. A recording kept as several files
(RAVDESS's audio-video .mp4 and audio-only .wav of one performance, decoded to other samples) is
known by its manifest `take`, recorded as `corpus:take`: an EDE trained on a store of RAVDESS's
wavs has heard the test clips of a store of its videos.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import TalkfaceError
from ..fsutil import json_text
from .datasets import Clip, data_hash, load_clips, no_clips

TRAINED = "trained_clips.json"  # in a registry entry's folder
# The terms a trained model's data comes under, by the corpus its clips name (`models show`, and
# `models export` carries them): what a user sharing the model must keep to.
TERMS = {
    "ravdess": "RAVDESS: CC BY-NC-SA 4.0 (non-commercial, share alike)",
    "mead": "MEAD: its authors' terms (see its site)",
    "hdtf": "HDTF: its authors' terms; its YouTube videos' rights stay with their owners",
    "synthetic": "talkface's synthetic corpus: no third-party terms",
}
FLAME_TERMS = "FLAME (the clips' face model): MPI's non-commercial licence"


def provenance(stores: list[Path], train: list[Clip]) -> tuple[dict, dict[str, bytes]]:
    """Meta (the stores, their manifests' hash and the data's terms) and the file of training-clip
    fingerprints."""
    meta = {"data_manifest_hash": data_hash(stores), "data": [str(s) for s in stores]}
    meta["data_terms"] = data_terms(train)
    record = {
        "fingerprint": "sha256 of the clip's 16 kHz float32 audio, first 16 hex digits",
        "clips": sorted({c.sound for c in train}),
        "takes": sorted({take for c in train if (take := take_of(c))}),
    }
    return meta, {TRAINED: json_text(record, indent=None).encode()}


def data_terms(train: list[Clip]) -> list[str]:
    """The terms of the corpora `train` comes from (a user's own data: its own), and FLAME's where
    the clips are FLAME parameters."""
    corpora = sorted({str(c.record.get("corpus")) for c in train})
    terms = [TERMS.get(c, f"{c}: the data's own terms (your files)") for c in corpora]
    return terms + ([FLAME_TERMS] if any(c.face_model == "flame" for c in train) else [])


def seen_in_training(entry_path: Path, clips: list[Clip]) -> list[str] | None:
    """Ids of `clips` the model at `entry_path` trained on; None when it keeps no record (trained
    before models kept one)."""
    path = Path(entry_path) / TRAINED
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        trained, takes = set(record["clips"]), set(record.get("takes", []))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise TalkfaceError(f"{path}: unreadable record of training clips ({e})") from None
    return [c.id for c in clips if c.sound in trained or take_of(c) in takes]


def split_clips(
    stores: list[Path], need_face: bool = False, labelled: bool = False
) -> tuple[list[Clip], list[Clip]]:
    """The training clips of `stores` and the held-out ones not heard in training (`unheard`),
    each clip read once; a one-line error when none is for training."""
    clips = load_clips(stores, None, need_face, labelled)
    train = [c for c in clips if c.record["split"] == "train"]
    if not train:
        raise no_clips(stores, ("train",), need_face, labelled)
    return train, unheard([c for c in clips if c.record["split"] != "train"], train)


def unheard(held: list[Clip], train: list[Clip]) -> list[Clip]:
    """The held-out clips whose recording no training clip holds. Within a store, the split keeps
    a recording's files together; across stores (RAVDESS's wavs prepared as one, its videos as
    another) a validation clip may be a training clip of the other store."""
    sounds, takes = {c.sound for c in train}, {take_of(c) for c in train} - {None}
    return [c for c in held if c.sound not in sounds and take_of(c) not in takes]


def take_of(clip: Clip) -> str | None:
    """`corpus:take` for a clip whose manifest names its recording, else None."""
    take = clip.record.get("take")
    return f"{clip.record.get('corpus')}:{take}" if take else None
