"""Other methods' outputs, scored beside the toolkit's models (`talkface eval --predictions DIR`).

DIR holds one file per scored clip, named by the clip's id: `<id>.npz` (a talkface parameter
sequence of the store's face model), ARKit-52 curves, `<id>.npy` as EmoTalk writes them (30 fps)
or `<id>.csv` (mapped to ICT-FaceKit and resampled to 25 fps, as `render` reads them), or vertices
on the face model's topology, `<id>.npy` (T, V, 3) or (T, 3V) at 25, 30, 50 or 60 fps, animating
its template or the clip speaker's face (fitted to its parameters, `eval.vertices`). The speech
to give the other method, and the template mesh for a vertex method to animate, are written by
`talkface eval --export-speech DIR`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import TalkfaceError, require_finite
from ..face.base import FaceModel
from ..render.run import load_any
from .vertices import as_vertices, at_clip_rate, fit_vertices

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


def load_prediction(
    path: Path, face: FaceModel, frames: int, shape: np.ndarray | None = None
) -> tuple[np.ndarray, float | None]:
    """(frames, D) parameters of `face` from a prediction file: columns put in the face model's
    order, and a length within SLACK frames of the clip's cut or held at its last frame; and, for
    vertices, the mean distance in metres from them to the fitted model's (else None). Vertices
    may animate the model's template or the clip speaker's face (`shape`, its identity), as a
    method run on VOCASET animates each speaker's template: they are fitted on the nearer one."""
    path = Path(path)
    verts = vertex_file(path, face)
    if verts is not None:
        verts = at_clip_rate(verts, frames, SLACK, str(path))
        fit = fit_vertices(face, verts, nearer_identity(face, verts, shape))
        return fit_length(fit.params, frames), float(fit.residual.mean())
    seq = load_any(path)
    if seq.face_model != face.kind:
        raise TalkfaceError(f"{path}: {seq.face_model} parameters; the clips are {face.kind}")
    if sorted(seq.param_names) != sorted(face.param_names):
        raise TalkfaceError(f"{path}: its parameter names are not {face.kind}'s {len(face.param_names)}")
    params = seq.params[:, [seq.param_names.index(n) for n in face.param_names]]
    if abs(len(params) - frames) > SLACK:
        raise TalkfaceError(f"{path}: {len(params)} frames at 25 fps for a clip of {frames}")
    return fit_length(params, frames), None


def vertex_file(path: Path, face: FaceModel) -> np.ndarray | None:
    """The (T, V, 3) vertices a `.npy` holds on `face`'s topology; None for ARKit curves (T, 52)
    and other files; a one-line error for an array of neither shape."""
    if path.suffix.lower() != ".npy":
        return None
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise TalkfaceError(f"{path}: not a readable .npy array ({e})") from None
    require_finite(array, f"{path}:")
    if array.ndim == 2 and array.shape[1] == 52:
        return None
    verts = as_vertices(array, face)
    if verts is None:
        raise TalkfaceError(
            f"{path}: {array.shape}; expected ARKit-52 curves (T, 52) or vertices on the "
            f"{face.kind} template, (T, {face.num_vertices}, 3) or (T, {3 * face.num_vertices})"
        )
    return verts


def nearer_identity(face: FaceModel, verts: np.ndarray, shape: np.ndarray | None) -> np.ndarray | None:
    """`shape` when the mean frame of `verts` (T, V, 3) lies nearer the face of that identity than
    the model's template, else None (the template)."""
    if shape is None or not np.any(shape):
        return None
    with torch.no_grad():
        zero = torch.zeros(1, face.dim)
        own, template = (
            face.expression_vertices(zero, s)[0].numpy() for s in (torch.from_numpy(shape), None)
        )
    mean = verts.mean(0)
    return (
        shape
        if np.linalg.norm(mean - own, axis=-1).mean() < np.linalg.norm(mean - template, axis=-1).mean()
        else None
    )


def fit_length(params: np.ndarray, frames: int) -> np.ndarray:
    """`params` cut to `frames`, or held at its last frame up to them."""
    held = np.repeat(params[-1:], max(0, frames - len(params)), 0)
    return np.concatenate([params[:frames], held]).astype(np.float32)
