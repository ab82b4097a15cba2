"""Vertex and feature metrics of generated motion (DESIGN.md, "Evaluation definitions").
Vertices in metres in, millimetres out.

- LVE: per frame, the max over lip vertices of the L2 error; mean over frames. CodeTalker's script
  takes the max of the squared L2 error instead (`lve_sq`, mm^2).
- EVE: the same over the eye and forehead vertices.
- FDD: per upper-face vertex, the std over time of its displacement norm from the template; mean
  over vertices; ground truth minus prediction (mm).
- Frechet distance between two sets of feature vectors (VE-FID with video emotion features).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..face.base import FaceModel

CHUNK = 250  # frames whose vertices are made at once: a 5-minute clip's at once took 2.9 GB


def frame_max_sq(pred: torch.Tensor, gt: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """pred, gt (T, V, 3) metres -> (T,) the max over `idx` vertices of the squared L2 error, mm^2."""
    return ((pred[:, idx] - gt[:, idx]) * 1000.0).pow(2).sum(-1).max(1).values


def displacement(verts: torch.Tensor, template: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """(T, V, 3) metres -> (T, |idx|) distance of each `idx` vertex from the template, mm."""
    return ((verts[:, idx] - template[idx]) * 1000.0).norm(dim=-1)


@dataclass
class Spread:
    """The standard deviation over time (population) of each of K values, from (n, K) pieces of
    their sequence added in turn (float64 sums)."""

    n: int = 0
    total: torch.Tensor | float = 0.0
    squares: torch.Tensor | float = 0.0

    def add(self, piece: torch.Tensor) -> Spread:
        piece = piece.double()
        self.n += len(piece)
        self.total = self.total + piece.sum(0)
        self.squares = self.squares + piece.pow(2).sum(0)
        return self

    def std(self) -> torch.Tensor:
        mean = self.total / self.n
        return (self.squares / self.n - mean.pow(2)).clamp_min(0).sqrt()


def dynamics_deviation(pred: Spread, gt: Spread) -> float:
    """Upper-face dynamics deviation (mm) from the spreads of the prediction's and the ground
    truth's displacements: mean over the vertices of their std over time, ground truth minus
    prediction."""
    return float((gt.std() - pred.std()).mean())


def chunked_vertices(face: FaceModel, *params: torch.Tensor) -> Iterator[list[torch.Tensor]]:
    """The vertices (n, V, 3) of each of the (T, D) parameter sequences, CHUNK frames at a time."""
    for k in range(0, len(params[0]), CHUNK):
        yield [face.expression_vertices(p[k : k + CHUNK], None) for p in params]


def lve(face: FaceModel, pred: torch.Tensor, gt: torch.Tensor) -> float:
    """LVE (mm) of (T, D) parameters against the ground truth's, on the mean identity."""
    lips = face.region("lips")
    return float(
        torch.cat([frame_max_sq(p, g, lips) for p, g in chunked_vertices(face, pred, gt)]).sqrt().mean()
    )


def vertex_scores(face: FaceModel, pred: torch.Tensor, gt: torch.Tensor) -> dict[str, float]:
    """LVE, LVE^2, EVE and FDD of (T, D) parameters against the ground truth's, on the mean
    identity, with the vertices of CHUNK frames at a time."""
    lips, eyes, upper = (face.region(r) for r in ("lips", "eyes_forehead", "upper_face"))
    lip, eye, moved_pred, moved_gt = [], [], Spread(), Spread()
    for p, g in chunked_vertices(face, pred, gt):
        lip.append(frame_max_sq(p, g, lips))
        eye.append(frame_max_sq(p, g, eyes))
        moved_pred.add(displacement(p, face.template, upper))
        moved_gt.add(displacement(g, face.template, upper))
    lip_sq, eye_sq = torch.cat(lip), torch.cat(eye)  # (T,) each
    return {
        "lve": float(lip_sq.sqrt().mean()),
        "lve_sq": float(lip_sq.mean()),
        "eve": float(eye_sq.sqrt().mean()),
        "fdd": dynamics_deviation(moved_pred, moved_gt),
    }


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
