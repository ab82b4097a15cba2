"""Vertex sequences as the other methods keep their 3D data: `prep import --format vertices`.

FaceFormer, CodeTalker and UniTalker keep VOCASET as `vertices_npy/<speaker>_sentenceNN.npy`
(T, 3V) at 60 fps, `wav/<same name>.wav` and `templates.pkl` (each speaker's neutral mesh, V x 3).
A clip is projected onto the face model of its topology (FLAME's 5023 vertices from the user's
FLAME files, or ICT-FaceKit's): the speaker's shape is fitted to the template, then each frame's
head pose and expression parameters as `eval` fits other methods' outputs (`eval.vertices.
fit_vertices`, the pose started by a rigid fit of the upper face). What the model cannot express
is measured per clip and kept in the manifest (`fit_mm`, mean vertex distance in mm).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from talkface_cli.errors import TalkfaceError
from talkface_cli.eval.vertices import STEP, at_clip_rate, fit_vertices
from talkface_cli.face.arkit import resample
from talkface_cli.face.base import FaceModel
from talkface_cli.face.load import load_face_model
from talkface_cli.face.safe_pickle import safe_load
from talkface_cli.face.sequence import FPS

FLAME_VERTICES = 5023  # FLAME's topology (VOCA's): the user's FLAME files are loaded for it


def face_of(verts: np.ndarray, path: Path | str, flame: str | None) -> FaceModel:
    """The face model whose topology `verts` (T, 3V) or (T, V, 3) has: ICT-FaceKit's, else FLAME's
    (the user's files: asked for only when the count is FLAME's or they are given); a one-line
    error for another."""
    if not (verts.ndim == 2 and verts.shape[1] % 3 == 0 or verts.ndim == 3 and verts.shape[2] == 3):
        raise TalkfaceError(f"{path}: an array of shape {verts.shape}, not vertices (T, 3V) or (T, V, 3)")
    count = verts.shape[1] // 3 if verts.ndim == 2 else verts.shape[1]
    ict = load_face_model("ict")
    if count == ict.num_vertices:
        return ict
    try:
        face = load_face_model("flame", flame=flame) if flame or count == FLAME_VERTICES else None
    except TalkfaceError as e:  # no FLAME files given
        raise TalkfaceError(f"{path}: {e}") from None
    if face is None or count != face.num_vertices:
        known = (
            f"ICT-FaceKit's {ict.num_vertices} nor FLAME's {face.num_vertices if face else FLAME_VERTICES}"
        )
        raise TalkfaceError(f"{path}: {count} vertices a frame; neither {known}")
    return face


@dataclass
class Templates:
    """templates.pkl's neutral meshes by speaker, and each speaker's identity fitted to its mesh,
    once for all of the speaker's clips (`shape`)."""

    meshes: dict[str, np.ndarray]  # speaker -> (V, 3)
    shapes: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (face, speaker) -> (S,)

    def shape(self, face: FaceModel, speaker: str, where: str) -> np.ndarray:
        """The identity coefficients (S,) of `speaker` on `face`; `where` begins the errors."""
        if (face.kind, speaker) not in self.shapes:
            if speaker not in self.meshes:
                raise TalkfaceError(f"{where}: no template for the speaker {speaker} in --templates")
            mesh = self.meshes[speaker]
            if mesh.shape != (face.num_vertices, 3):
                raise TalkfaceError(
                    f"{where}: the template of {speaker} is {mesh.shape}, not ({face.num_vertices}, 3)"
                )
            self.shapes[face.kind, speaker] = fit_shape(face, mesh)
        return self.shapes[face.kind, speaker]


def read_templates(path: Path) -> Templates:
    """templates.pkl: speaker -> (V, 3) neutral mesh, read with the restricted unpickler."""
    templates = safe_load(path)
    if not isinstance(templates, dict) or not templates:
        raise TalkfaceError(f"{path}: not a dict of speakers' meshes (templates.pkl)")
    return Templates({str(k): np.asarray(v, np.float32) for k, v in templates.items()})


def fit_shape(face: FaceModel, template: np.ndarray) -> np.ndarray:
    """(S,) identity coefficients whose neutral mesh is nearest `template` (V, 3), by least squares
    on the model's identity basis (exact for FLAME and ICT-FaceKit, both linear in it at rest)."""
    zero = torch.zeros(1, face.dim)
    with torch.no_grad():
        rest = face.expression_vertices(zero, None)[0]  # (V, 3)
        basis = (
            torch.stack(
                [face.expression_vertices(zero, STEP * e)[0] - rest for e in torch.eye(face.shape_dim)]
            )
            / STEP
        )  # (S, V, 3)
        target = torch.from_numpy(template).double() - rest.double()
        a = basis.reshape(face.shape_dim, -1).T.double()  # (3V, S)
        return torch.linalg.lstsq(a, target.reshape(-1, 1)).solution[:, 0].float().numpy()


def read_vertex_file(path: Path) -> np.ndarray:
    """A clip's vertices as FaceFormer saves them: an .npy of (T, 3V)."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise TalkfaceError(f"{path}: not a readable .npy ({e})") from None


def vertex_arrays(
    raw: np.ndarray,
    where: str,
    frames: int,
    templates: Templates,
    speaker: str,
    fps: float | None,
    flame: str | None,
) -> tuple[dict, float]:
    """The clip arrays of a vertex sequence `raw` (T, 3V) or (T, V, 3) whose sound is `frames` long
    at 25 fps, and the mean distance (mm) from its vertices to the fitted model's; `where` names
    it in errors. At `fps`, or else at whichever of `eval`'s rates makes it as long as its sound."""
    face = face_of(raw, where, flame)
    verts = np.asarray(raw, np.float32).reshape(len(raw), face.num_vertices, 3)  # (T, V, 3)
    shape = templates.shape(face, speaker, where)
    if fps:
        verts = resample(verts.reshape(len(verts), -1), fps, FPS).reshape(-1, face.num_vertices, 3)
    else:
        verts = at_clip_rate(verts, frames, max(2, round(0.05 * frames)), where)
    fit = fit_vertices(face, verts, shape, posed=True)
    arrays = {
        "params": fit.params,
        "param_names": np.array(face.param_names),
        "face_model": face.kind,
        "pose": fit.pose,
        "shape": shape,
    }
    return arrays, round(1e3 * float(fit.residual.mean()), 4)
