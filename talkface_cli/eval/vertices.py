"""Other methods' vertex outputs, scored as parameters: FaceFormer, CodeTalker or UniTalker output
vertex sequences, and `eval --predictions` scores parameters (LVE, EVE and FDD through
`expression_vertices`, lip sync and emotion through renders of them). A method that animates the
face model's template (`eval --export-speech` writes it as `template.ply`) gives vertices on the
model's topology; they are projected onto the model: least squares through its linearisation at
rest, then L-BFGS on the vertex error from there for a model that is not linear in its parameters
(FLAME's jaw turns by skinning). What the model cannot express is left as the residual, reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import TalkfaceError
from ..face.arkit import resample
from ..face.base import FaceModel
from ..face.geometry import apply_pose, remove_pose, rigid_pose
from ..face.sequence import FPS

RATES = (25, 30, 50, 60)  # frames per second of the methods' outputs: BIWI 25, VOCA 30 or 60
CHUNK = 250  # frames fitted together
POSE_UNIT = torch.tensor([0.05] * 3 + [0.005] * 3)  # radians, metres: about 5 mm at a face's size
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


@dataclass
class VertexFit:
    params: np.ndarray  # (T, D)
    pose: np.ndarray | None  # (T, 6) head pose (`apply_pose` about the template's centre), if fitted
    residual: np.ndarray  # (T,) mean distance in metres from each frame's vertices to the fitted model's


def fit_vertices(
    face: FaceModel, verts: np.ndarray, shape: np.ndarray | None = None, posed: bool = False, iters: int = 60
) -> VertexFit:
    """(T, V, 3) vertices on the model's template (or of the identity `shape`) -> its parameters.
    With `posed`, the vertices carry a head pose too: it starts from a rigid fit of the upper face
    (which speech moves least) to the neutral face and is fitted with the parameters. Frames are
    fitted apart (in pieces of CHUNK, so an HDTF-length clip takes bounded memory)."""
    identity = None if shape is None else torch.from_numpy(np.asarray(shape, np.float32))
    with torch.no_grad():
        rest = face.expression_vertices(torch.zeros(1, face.dim), identity)[0]  # (V, 3)
        basis = (face.expression_vertices(STEP * torch.eye(face.dim), identity) - rest) / STEP  # (D, V, 3)
        a = basis.reshape(face.dim, -1).T.double()  # (3V, D)
    fit = Fit(face, identity, rest, a, face.template.mean(0), face.region("upper_face") if posed else None)
    pieces = [fit(verts[k : k + CHUNK], iters) for k in range(0, len(verts), CHUNK)]
    params, poses, residual = (np.concatenate(x) for x in zip(*pieces))
    return VertexFit(params, poses if posed else None, residual)


@dataclass
class Fit:
    """One piece of `fit_vertices`: least squares through the model's linearisation at rest (after
    a rigid fit, with `upper` the upper face's vertices), then L-BFGS on the vertex error."""

    face: FaceModel
    identity: torch.Tensor | None
    rest: torch.Tensor  # (V, 3)
    a: torch.Tensor  # (3V, D)
    center: torch.Tensor  # (3,)
    upper: torch.Tensor | None

    def __call__(self, verts: np.ndarray, iters: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        target = torch.from_numpy(np.ascontiguousarray(verts)).float()  # (T, V, 3)
        with torch.no_grad():
            pose = torch.zeros(len(target), 6)
            if self.upper is not None:
                pose = rigid_pose(
                    target[:, self.upper].double(), self.rest[self.upper].double(), self.center.double()
                )
                pose = pose.float()
            start = target if self.upper is None else remove_pose(target, pose, self.center)
            b = (start - self.rest).reshape(len(target), -1).T.double()  # (3V, T)
            params = torch.linalg.lstsq(self.a, b).solution.T.float()  # (T, D)
            pose = pose / POSE_UNIT  # in steps that move the face about as far as a unit of a parameter
        free = [params.requires_grad_(True)] + ([pose.requires_grad_(True)] if self.upper is not None else [])
        opt = torch.optim.LBFGS(free, max_iter=iters, line_search_fn="strong_wolfe")

        def loss() -> torch.Tensor:  # squared millimetres, so the gradient is not below L-BFGS's tolerance
            opt.zero_grad()
            value = (1e3 * (self.vertices(params, pose) - target)).pow(2).sum(-1).mean()
            value.backward()
            return value

        opt.step(loss)
        with torch.no_grad():
            residual = (self.vertices(params, pose) - target).norm(dim=-1).mean(-1)
        return params.detach().numpy(), (pose * POSE_UNIT).detach().numpy(), residual.numpy()

    def vertices(self, params: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        verts = self.face.expression_vertices(params, self.identity)
        return verts if self.upper is None else apply_pose(verts, pose * POSE_UNIT, self.center)
