"""Other methods' outputs, scored beside the toolkit's models (`talkface eval --predictions DIR`).

DIR holds one file per scored clip, named by the clip's id: `<id>.npz` (a talkface parameter
sequence of the store's face model) or ARKit-52 curves, `<id>.npy` as EmoTalk writes them (30 fps)
or `<id>.csv` (mapped to ICT-FaceKit and resampled to 25 fps, as `render` reads them). The speech to
give the other method is written by `talkface eval --export-speech DIR`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import TalkfaceError
from ..face.base import FaceModel
from ..render.run import load_any

SUFFIXES = (".npz", ".npy", ".csv")
SLACK = 2  # frames a prediction may be longer or shorter than its clip (another frame rate's rounding)


def find_predictions(folder: Path, ids: list[str]) -> dict[str, Path]:
    """Each clip id's prediction file in `folder`; a one-line error when any is missing or doubled."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TalkfaceError(f"--predictions {folder}: not a folder")
    found: dict[str, Path] = {}
    for i in ids:
        hits = [folder / f"{i}{s}" for s in SUFFIXES if (folder / f"{i}{s}").is_file()]
        if len(hits) > 1:
            raise TalkfaceError(f"{folder}: two predictions for clip {i} ({hits[0].name}, {hits[1].name})")
        if hits:
            found[i] = hits[0]
    missing = [i for i in ids if i not in found]
    if missing:
        raise TalkfaceError(
            f"{folder}: no prediction for {len(missing)} of {len(ids)} clips (first: {missing[0]}.npz, "
            ".npy or .csv); `talkface eval ... --export-speech DIR` writes the clips' speech"
        )
    return found


def load_prediction(path: Path, face: FaceModel, frames: int) -> np.ndarray:
    """(frames, D) parameters of `face` from a prediction file: columns put in the face model's
    order, and a length within SLACK frames of the clip's cut or held at its last frame."""
    seq = load_any(path)
    if seq.face_model != face.kind:
        raise TalkfaceError(f"{path}: {seq.face_model} parameters; the clips are {face.kind}")
    if sorted(seq.param_names) != sorted(face.param_names):
        raise TalkfaceError(f"{path}: its parameter names are not {face.kind}'s {len(face.param_names)}")
    params = seq.params[:, [seq.param_names.index(n) for n in face.param_names]]
    if abs(len(params) - frames) > SLACK:
        raise TalkfaceError(f"{path}: {len(params)} frames at 25 fps for a clip of {frames}")
    held = np.repeat(params[-1:], max(0, frames - len(params)), 0)
    return np.concatenate([params[:frames], held]).astype(np.float32)
