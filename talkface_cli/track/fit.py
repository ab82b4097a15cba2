"""Fit a face model to tracked 2D landmarks: batched least squares in torch.

Camera: scaled orthographic per frame, p = s * flip_y(R (X - c) + c)[:2] + t, X the model's
landmarks (iBUG 17..67: the jaw contour is left out, it follows the silhouette, not fixed
vertices), c the template centroid. Unknowns: per-frame expression (ICT: sigmoid-bounded to
[0, 1]), rotation (axis-angle), scale and translation; one shape per speaker (fixed when given).
Loss: squared landmark error in units of the inter-ocular distance (mouth points weighted x2)
+ temporal smoothness of expression and pose + a small L2 prior on expression and shape.
Adam, first on pose alone, then on everything, all frames at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..face.base import FaceModel
from ..face.geometry import axis_angle_to_matrix

FIT_IBUG = np.arange(17, 68)


@dataclass
class FitResult:
    params: np.ndarray  # (T, D)
    pose: np.ndarray  # (T, 6): axis-angle, translation in metres (z = 0: orthographic)
    shape: np.ndarray  # (S,)
    nme: np.ndarray  # (T,) mean 2D landmark error / inter-ocular distance
    model_landmarks: np.ndarray  # (T, 68 or 51, 2) projected model landmarks in pixels


def _iod(lmk: torch.Tensor) -> torch.Tensor:
    """Inter-ocular distance per frame: between the eye centres (iBUG 36-41, 42-47). (T,)"""
    return (lmk[:, 36:42].mean(1) - lmk[:, 42:48].mean(1)).norm(dim=-1)


def fit_landmarks(
    model: FaceModel,
    lmk68: np.ndarray,
    image_size: tuple[int, int],
    shape: np.ndarray | None = None,
    iters: int = 250,
    lr: float = 0.03,
    smooth: float = 1.0,
    seed: int = 0,
    segments: list[int] | None = None,
) -> FitResult:
    """lmk68: (T, 68, 2+) detected landmarks in pixels; `shape` fixes the identity, else it is fit.
    `segments`: lengths of the clips concatenated in `lmk68` (no smoothness across their borders)."""
    torch.manual_seed(seed)
    obs_all = torch.as_tensor(np.asarray(lmk68)[..., :2], dtype=torch.float32)  # (T, 68, 2)
    t_count = len(obs_all)
    rows = [int((model.lmk_ibug == i).nonzero()[0, 0]) for i in FIT_IBUG]  # model rows for iBUG 17..67
    obs = obs_all[:, FIT_IBUG]  # (T, 51, 2)
    iod = _iod(obs_all).clamp_min(1.0)  # (T,)
    w = torch.ones(len(FIT_IBUG))
    w[FIT_IBUG >= 48] = 2.0
    cont = torch.ones(max(t_count - 1, 0))  # 1 where frame t and t+1 belong to one clip
    for end in np.cumsum(segments or [t_count])[:-1]:
        cont[end - 1] = 0.0
    centre_img = torch.tensor(image_size, dtype=torch.float32) / 2
    c = model.template.mean(0)
    flip = torch.tensor([1.0, -1.0])

    bounded = model.kind == "ict"
    a = torch.full((t_count, model.dim), -4.0 if bounded else 0.0, requires_grad=True)
    rot = torch.zeros(t_count, 3, requires_grad=True)
    with torch.no_grad():  # initial scale and translation from the neutral face
        neutral = model.landmarks_of(torch.zeros(1, model.dim))[0, rows, :2]
        s0 = (obs - obs.mean(1, keepdim=True)).norm(dim=-1).mean(1) / (neutral - neutral.mean(0)).norm(
            dim=-1
        ).mean()
        t0 = obs.mean(1) - s0[:, None] * (neutral.mean(0) * flip)
    log_s = s0.log().clone().requires_grad_(True)
    trans = t0.clone().requires_grad_(True)
    fixed_shape = shape is not None
    shape_dim = getattr(model, "shape_dim", 0)
    shp = torch.as_tensor(shape if fixed_shape else np.zeros(shape_dim), dtype=torch.float32)
    shp.requires_grad_(not fixed_shape and shape_dim > 0)

    basis = model.landmark_basis() if hasattr(model, "landmark_basis") else None
    if basis is not None:  # linear model: work on the 51 landmarks' basis only
        t_l, e_l, s_l = (b[..., rows, :] if i == 0 else b[:, rows] for i, b in enumerate(basis))

    def expr() -> torch.Tensor:
        return torch.sigmoid(a) if bounded else a

    def landmarks(e: torch.Tensor) -> torch.Tensor:  # (T, 51, 3) without pose
        if basis is None:
            return model.landmarks_of(e, shp)[:, rows]
        base = t_l + torch.einsum("s,slc->lc", shp, s_l[: len(shp)]) if len(shp) else t_l
        return base + (e @ e_l.reshape(len(e_l), -1)).reshape(len(e), len(rows), 3)

    def project(e: torch.Tensor) -> torch.Tensor:
        x = landmarks(e)
        x = (x - c) @ axis_angle_to_matrix(rot).transpose(1, 2) + c
        return log_s.exp()[:, None, None] * x[..., :2] * flip + trans[:, None]

    def loss(with_expr: bool) -> torch.Tensor:
        e = expr() if with_expr else expr().detach()
        err = ((project(e) - obs) ** 2).sum(-1) / iod[:, None] ** 2  # (T, 51)
        total = (err * w).mean()
        if t_count > 1:
            total = total + smooth * 0.05 * (cont * (e[1:] - e[:-1]).pow(2).sum(-1)).mean()
            total = total + smooth * 0.5 * (cont * (rot[1:] - rot[:-1]).pow(2).sum(-1)).mean()
        total = total + 1e-3 * e.pow(2).sum(-1).mean()
        if shp.requires_grad:
            total = total + 1e-3 * shp.pow(2).sum()
        return total

    pose_params = [rot, log_s, trans]
    for params, steps, with_expr in (
        (pose_params, iters // 3, False),
        (pose_params + [a] + ([shp] if shp.requires_grad else []), iters, True),
    ):
        opt = torch.optim.Adam(params, lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            loss(with_expr).backward()
            opt.step()

    with torch.no_grad():
        e = expr()
        proj = project(e)
        nme = ((proj - obs).norm(dim=-1).mean(1) / iod).numpy()
        s = log_s.exp()
        tau = (trans - centre_img) * flip / s[:, None]
        pose = torch.cat([rot, tau, torch.zeros(t_count, 1)], 1)
    return FitResult(
        e.numpy().astype(np.float32),
        pose.numpy().astype(np.float32),
        shp.detach().numpy().astype(np.float32),
        nme,
        proj.numpy(),
    )


JAW_OPENING = {"ict": "jawOpen", "flame": "jaw_x"}


def jaw_opening(model: FaceModel, params: np.ndarray) -> np.ndarray:
    """How far the fitted face opens its mouth, per frame (T,): the model's own jaw-opening
    parameter (ICT jawOpen, FLAME jaw pitch). Lip aperture alone is not used: an emotional clip
    often holds the lips apart (a smile) through silence, while the jaw moves with speech."""
    return np.asarray(params)[:, model.param_names.index(JAW_OPENING[model.kind])]


def loudness_db(audio: np.ndarray, frames: int, hop: int = 640) -> np.ndarray:
    """Loudness envelope (T,): RMS per 25 fps frame in dB."""
    a = np.pad(audio, (0, max(0, frames * hop - len(audio))))[: frames * hop].reshape(frames, hop)
    return 20 * np.log10(np.sqrt((a**2).mean(1)) + 1e-4)
