"""VOCASET as its own site gives it, for `prep import ROOT --format vertices`.

The download is four files in one folder: `data_verts.npy` (N, 5023, 3), every registered frame
of every sentence at 60 fps; `subj_seq_to_idx.pkl`, speaker -> sentence -> frame number -> row of
data_verts; `raw_audio_fixed.pkl`, speaker -> sentence -> {'audio': samples, 'sample_rate': Hz};
`templates.pkl`, speaker -> neutral mesh. FaceFormer, CodeTalker and UniTalker first convert it
to `vertices_npy/<speaker>_<sentence>.npy` and `wav/` with a script of their own; read here, the
same clips come straight from it (names as theirs, frames in frame-number order, the vertices
memory-mapped: data_verts is 7 GB). The pickles are Python 2's, read with the restricted
unpickler.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkface_cli.errors import TalkfaceError, require_file
from talkface_cli.face.safe_pickle import safe_load

VERTS, INDEX, SOUND = "data_verts.npy", "subj_seq_to_idx.pkl", "raw_audio_fixed.pkl"


@dataclass
class RawVocaset:
    verts: np.ndarray  # (N, V, 3), memory-mapped
    rows: dict[str, np.ndarray]  # clip name (<speaker>_<sentence>) -> its rows of verts, in frame order
    speakers: dict[str, str]  # clip name -> speaker
    sounds: dict[str, tuple[np.ndarray, int]]  # clip name -> (samples, sample rate)

    def clip(self, name: str, where: str) -> tuple[np.ndarray, np.ndarray, int]:
        """(vertices (T, V, 3), samples, rate) of one clip; `where` begins its errors."""
        rows = self.rows[name]
        if name not in self.sounds:
            raise TalkfaceError(f"{where}: no sound for it in {SOUND}")
        if rows.max() >= len(self.verts):
            raise TalkfaceError(f"{where}: rows up to {rows.max()}, but {VERTS} has {len(self.verts)}")
        samples, rate = self.sounds[name]
        if not samples.size:
            raise TalkfaceError(f"{where}: its sound in {SOUND} is empty")
        return np.asarray(self.verts[rows]), samples, rate


def is_raw(root: Path) -> bool:
    return (root / VERTS).is_file()


def read_raw(root: Path) -> RawVocaset:
    """The download in `root`; a one-line error naming a missing or unreadable file."""
    for name in (VERTS, INDEX, SOUND):
        require_file(
            root / name, " (VOCASET's download: data_verts.npy, subj_seq_to_idx.pkl, raw_audio_fixed.pkl)"
        )
    try:
        verts = np.load(root / VERTS, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise TalkfaceError(f"{root / VERTS}: not a readable .npy ({e})") from None
    if verts.ndim != 3 or verts.shape[2] != 3:
        raise TalkfaceError(f"{root / VERTS}: an array of shape {verts.shape}, not vertices (N, V, 3)")
    rows, speakers = {}, {}
    for (speaker, sentence), frames in _by_clip(root / INDEX, "frame number -> row").items():
        name = f"{speaker}_{sentence}"
        if not isinstance(frames, dict) or not frames:
            raise TalkfaceError(f"{root / INDEX}: {name} is not a table of frame number -> row")
        rows[name] = np.array([row for _, row in sorted(frames.items())], np.int64)
        speakers[name] = str(speaker)
    sounds = {}
    for (speaker, sentence), sound in _by_clip(root / SOUND, "{'audio', 'sample_rate'}").items():
        name = f"{speaker}_{sentence}"
        if not isinstance(sound, dict) or not {"audio", "sample_rate"} <= set(sound):
            raise TalkfaceError(f"{root / SOUND}: {name} is not {{'audio': samples, 'sample_rate': Hz}}")
        sounds[name] = (np.asarray(sound["audio"]), int(sound["sample_rate"]))
    return RawVocaset(verts, rows, speakers, sounds)


def _by_clip(path: Path, leaf: str) -> dict:
    """speaker -> sentence -> X, as (speaker, sentence) -> X."""
    table = safe_load(path)
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise TalkfaceError(f"{path}: not VOCASET's speaker -> sentence -> {leaf}")
    return {(speaker, sentence): x for speaker, seqs in table.items() for sentence, x in seqs.items()}
