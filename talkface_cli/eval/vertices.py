"""Other methods' vertex outputs, scored as parameters: FaceFormer, CodeTalker or UniTalker output
vertex sequences, and `eval --predictions` scores parameters (LVE, EVE and FDD through
`expression_vertices`, lip sync and emotion through renders of them). A method that animates the
face model's template (`eval --export-speech` writes it as `template.ply`) gives vertices on the
model's topology; they are projected onto the model: least squares through its linearisation at
rest, then L-BFGS on the vertex error from there for a model that is not linear in its parameters
(FLAME's jaw turns by skinning). What the model cannot express is left as the residual, reported.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import TalkfaceError
from ..face.arkit import resample
from ..face.base import FaceModel
from ..face.sequence import FPS

RATES = (25, 30, 50, 60)  # frames per second of the methods' outputs: BIWI 25, VOCA 30 or 60
CHUNK = 250  # frames fitted together
STEP = 0.1  # parameter step of the linearisation (ICT: exact for any; FLAME: 0.1 rad of jaw)


def as_vertices(array: np.ndarray, face: FaceModel) -> np.ndarray | None:
    """(T, V, 3) from (T, V, 3) or (T, 3V) on `face`'s topology; None for another shape."""
    v = face.num_vertices
    if array.ndim == 3 and array.shape[1:] == (v, 3):
        return array.astype(np.float32)
    if array.ndim == 2 and array.shape[1] == 3 * v:
        return array.reshape(len(array), v, 3).astype(np.float32)
    return None


def at_clip_rate(verts: np.ndarray, frames: int, slack: int, name: str) -> np.ndarray:
    """(T, V, 3) at whichever of RATES makes it as long as the clip (`frames` at 25 fps, within
    `slack`), resampled linearly to 25 fps; a one-line error when none does."""
    for rate in RATES:
        if abs(round(len(verts) * FPS / rate) - frames) <= slack:
            flat = resample(verts.reshape(len(verts), -1), rate, FPS)
            return flat.reshape(len(flat), -1, 3)
    raise TalkfaceError(
        f"{name}: {len(verts)} frames of vertices; at {', '.join(map(str, RATES))} fps none is as long as "
        f"the clip ({frames} frames at 25 fps)"
    )


def fit_vertices(face: FaceModel, verts: np.ndarray, iters: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """(T, V, 3) vertices without head pose, on the model's template -> (T, D) parameters and the
    (T,) mean distance in metres from each frame's vertices to the fitted model's. Frames are
    fitted apart (in pieces of CHUNK, so an HDTF-length clip takes bounded memory)."""
    with torch.no_grad():
        rest = face.expression_vertices(torch.zeros(1, face.dim), None)[0]  # (V, 3)
        basis = (face.expression_vertices(STEP * torch.eye(face.dim), None) - rest) / STEP  # (D, V, 3)
        a = basis.reshape(face.dim, -1).T.double()  # (3V, D)
    pieces = [_fit(face, rest, a, verts[k : k + CHUNK], iters) for k in range(0, len(verts), CHUNK)]
    return np.concatenate([p for p, _ in pieces]), np.concatenate([r for _, r in pieces])


def _fit(
    face: FaceModel, rest: torch.Tensor, a: torch.Tensor, verts: np.ndarray, iters: int
) -> tuple[np.ndarray, np.ndarray]:
    target = torch.from_numpy(np.ascontiguousarray(verts)).float()  # (T, V, 3)
    with torch.no_grad():
        b = (target - rest).reshape(len(target), -1).T.double()  # (3V, T)
        params = torch.linalg.lstsq(a, b).solution.T.float()  # (T, D)
    params.requires_grad_(True)
    opt = torch.optim.LBFGS([params], max_iter=iters, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:  # squared millimetres, so the gradient is not below L-BFGS's tolerance
        opt.zero_grad()
        value = (1e3 * (face.expression_vertices(params, None) - target)).pow(2).sum(-1).mean()
        value.backward()
        return value

    opt.step(loss)
    with torch.no_grad():
        residual = (face.expression_vertices(params, None) - target).norm(dim=-1).mean(-1)
    return params.detach().numpy(), residual.numpy()
