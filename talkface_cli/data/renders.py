"""Grey 2D renders of a clip's face parameters for the EDE video branch, cached in the store.

Rendered with the differentiable renderer (the same one the EMG emotion loss uses, so the EDE
sees exactly what it will be asked about), frontal orthographic camera framing the face model's
landmarks (brows to chin) with a margin, on the model's mean identity and without head pose: the
branch reads expression, not who is speaking (rendered with each speaker's own shape, the tiny EDE
learnt identities: 97% on training speakers, 65% on unseen ones), and the EMG's predictions carry
no shape either.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..face.base import FaceModel
from ..face.geometry import face_normals
from ..render.camera import OrthoCamera
from ..render.diff import render_gray
from .cache import cache_path, cached_array


def face_camera(model: FaceModel, size: int, margin: float = 1.35) -> OrthoCamera:
    """Frame the neutral face's landmarks: centre of their box, square side = margin x its height."""
    lmk = model.landmarks(model.template[None])[0]
    lo, hi = lmk.min(0).values, lmk.max(0).values
    centre = (lo + hi) / 2
    half = float((hi - lo)[:2].max()) / 2 * margin
    top = float(model.template[:, 2].max())
    return OrthoCamera((float(centre[0]), float(centre[1]), top + half), half, size)


def visible_faces(model: FaceModel, cam: OrthoCamera, margin: float = 0.1) -> torch.Tensor:
    """Triangles of the neutral face inside the camera's view (plus a margin) that face the camera
    or nearly (template normal z > -0.3; expressions never turn the back of the head around):
    rendering only these makes a clip cheap. (F', 3)"""
    pix, _ = cam.project(model.template[None])
    lo, hi = -margin * cam.size, (1 + margin) * cam.size
    inside = ((pix[0] >= lo) & (pix[0] <= hi)).all(-1)  # (V,)
    normals = face_normals(model.template, model.faces)
    facing = normals[:, 2] / normals.norm(dim=-1).clamp_min(1e-12) > -0.3
    return model.faces[inside[model.faces].all(1) & facing]


@torch.no_grad()
def render_params(
    model: FaceModel, params: np.ndarray, shape: np.ndarray | None, size: int, chunk: int = 64
) -> np.ndarray:
    """(T, D) parameters -> (T, size, size) uint8 grey renders."""
    cam = face_camera(model, size)
    faces = visible_faces(model, cam)
    s = None if shape is None else torch.as_tensor(shape)
    out = []
    for i in range(0, len(params), chunk):
        v = model(torch.as_tensor(params[i : i + chunk]), s)
        out.append((render_gray(v, faces, cam)[:, 0] * 255).round().to(torch.uint8).numpy())
    return np.concatenate(out)


def cached_renders(store: Path, clip_id: str, model: FaceModel, params: np.ndarray, size: int) -> np.ndarray:
    """Renders of a clip's expression on the mean identity, cached per face model and size."""
    path = cache_path(store, f"render-{model.kind}-{size}-mean-identity", f"{clip_id}.npy")
    return cached_array(path, len(params), lambda: render_params(model, params, None, size))
