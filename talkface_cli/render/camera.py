"""A fixed frontal orthographic camera shared by the differentiable and the OpenGL renderers."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class OrthoCamera:
    """Looks along -z at `center`; the image shows a square of side 2 * `half_extent` metres."""

    center: tuple[float, float, float]
    half_extent: float
    size: int = 128

    def project(self, verts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """verts (B, V, 3) -> pixel coordinates (B, V, 2) (x right, y down; pixel i spans [i, i+1])
        and depth (B, V) (distance in front of the camera plane: smaller is nearer)."""
        c = torch.tensor(self.center, dtype=verts.dtype, device=verts.device)
        scale = self.size / (2 * self.half_extent)
        x = (verts[..., 0] - c[0]) * scale + self.size / 2
        y = (c[1] - verts[..., 1]) * scale + self.size / 2
        return torch.stack([x, y], -1), c[2] - verts[..., 2]


def frontal_camera(points: torch.Tensor, size: int = 128, margin: float = 1.08) -> OrthoCamera:
    """Frame `points` (N, 3) (e.g. a face model's face-area vertices) to fill the image."""
    lo, hi = points.min(0).values, points.max(0).values
    center = (lo + hi) / 2
    half = float((hi - lo)[:2].max()) / 2 * margin
    return OrthoCamera((float(center[0]), float(center[1]), float(hi[2]) + half), half, size)
