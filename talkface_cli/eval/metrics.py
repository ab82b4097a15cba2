"""Vertex and feature metrics of generated motion (DESIGN.md, "Evaluation definitions").
Vertices in metres in, millimetres out.

- LVE: per frame, the max over lip vertices of the L2 error; mean over frames. CodeTalker's script
  takes the max of the squared L2 error instead (`squared=True`, mm^2).
- EVE: the same over the eye and forehead vertices.
- FDD: per upper-face vertex, the std over time of its displacement norm from the template; mean
  over vertices; ground truth minus prediction (mm).
- Frechet distance between two sets of feature vectors (VE-FID with video emotion features).
"""

from __future__ import annotations

import numpy as np
import torch


def max_vertex_error(pred: torch.Tensor, gt: torch.Tensor, idx: torch.Tensor, squared: bool = False) -> float:
    """pred, gt (T, V, 3) metres -> mean over frames of the max over `idx` vertices of the L2 error
    in mm (squared: of the squared L2 error, mm^2)."""
    d2 = ((pred[:, idx] - gt[:, idx]) * 1000.0).pow(2).sum(-1)  # (T, |idx|) mm^2
    per_frame = d2.max(1).values
    return float((per_frame if squared else per_frame.sqrt()).mean())


def fdd(pred: torch.Tensor, gt: torch.Tensor, template: torch.Tensor, idx: torch.Tensor) -> float:
    """Upper-face dynamics deviation (mm): mean over `idx` vertices of std_t |v_t - template|,
    ground truth minus prediction. pred, gt (T, V, 3), template (V, 3)."""
    dyn = lambda v: ((v[:, idx] - template[idx]) * 1000.0).norm(dim=-1).std(0, unbiased=False)  # noqa: E731
    return float((dyn(gt) - dyn(pred)).mean())


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """|mu_x - mu_y|^2 + tr(Cx + Cy - 2 (Cx Cy)^1/2) of two sets of features (N, D), (M, D)."""
    mx, my = x.mean(0), y.mean(0)
    cx, cy = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    w, v = np.linalg.eigh(cx)
    sx = (v * np.sqrt(w.clip(0))) @ v.T  # Cx^1/2
    # tr((Cx Cy)^1/2) = tr((Cx^1/2 Cy Cx^1/2)^1/2), whose argument is symmetric PSD
    cross = np.sqrt(np.linalg.eigvalsh(sx @ cy @ sx).clip(0)).sum()
    # >= 0 in exact arithmetic; round-off can leave -1e-7 for identical sets
    return max(0.0, float(((mx - my) ** 2).sum() + np.trace(cx) + np.trace(cy) - 2 * cross))
