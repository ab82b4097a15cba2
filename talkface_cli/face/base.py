"""The face-model interface every stage speaks: parameters (T, D) in, vertices (T, V, 3) out."""

from __future__ import annotations

import torch
from torch import nn

from .geometry import apply_pose

REGIONS = ("lips", "eyes_forehead", "upper_face")


class FaceModel(nn.Module):
    """A parametric face. Subclasses set the buffers and `expression_vertices`.

    Buffers: `template` (V, 3) neutral mesh in metres; `faces` (F, 3) triangles; landmarks as
    barycentric points, `lmk_idx` (L, 3) vertex indices with weights `lmk_w` (L, 3), whose iBUG-68
    numbers are `lmk_ibug` (L,) (ICT has all 68; FLAME's static embedding 17..67); one index buffer
    per region in `REGIONS`. `param_names` (D,) names the entries of a parameter vector.
    """

    kind: str = ""
    param_names: list[str]
    licence: str = ""

    @property
    def dim(self) -> int:
        return len(self.param_names)

    @property
    def num_vertices(self) -> int:
        return self.template.shape[0]

    def region(self, name: str) -> torch.Tensor:
        if name not in REGIONS:
            raise KeyError(f"unknown region {name!r} (regions: {', '.join(REGIONS)})")
        return getattr(self, f"region_{name}")

    def set_landmarks(self, idx: torch.Tensor, weights: torch.Tensor, ibug: torch.Tensor) -> None:
        self.register_buffer("lmk_idx", idx.long())  # (L, 3)
        self.register_buffer("lmk_w", weights.float())  # (L, 3)
        self.register_buffer("lmk_ibug", ibug.long())  # (L,)

    def expression_vertices(self, params: torch.Tensor, shape: torch.Tensor | None) -> torch.Tensor:
        """params (T, D), shape (S,) or None -> vertices (T, V, 3) without head pose."""
        raise NotImplementedError

    def forward(
        self, params: torch.Tensor, shape: torch.Tensor | None = None, pose: torch.Tensor | None = None
    ) -> torch.Tensor:
        """params (T, D) [, shape (S,), pose (T, 6) axis-angle + translation] -> (T, V, 3)."""
        if params.ndim != 2 or params.shape[1] != self.dim:
            raise ValueError(f"{self.kind} parameters must be (T, {self.dim}), got {tuple(params.shape)}")
        verts = self.expression_vertices(params, shape)
        if pose is not None:
            verts = apply_pose(verts, pose.to(verts), self.template.mean(0))
        return verts

    def landmarks(self, verts: torch.Tensor) -> torch.Tensor:
        """(T, V, 3) -> facial landmarks (T, L, 3), iBUG numbers in `lmk_ibug`."""
        return (verts[:, self.lmk_idx] * self.lmk_w[..., None].to(verts)).sum(-2)

    def landmarks_of(self, params: torch.Tensor, shape: torch.Tensor | None = None) -> torch.Tensor:
        """Landmarks (T, L, 3) straight from parameters, without pose (models may compute only the
        vertices the landmarks need)."""
        return self.landmarks(self.expression_vertices(params, shape))

    def mouth(self, verts: torch.Tensor) -> torch.Tensor:
        """(T, V, 3) -> the 20 lip landmarks (iBUG 48-67) (T, 20, 3): the sync expert's input."""
        rows = ((self.lmk_ibug >= 48) & (self.lmk_ibug < 68)).nonzero().squeeze(1)
        return self.landmarks(verts)[:, rows]

    def lip_motion(self, params: torch.Tensor) -> torch.Tensor:
        """params (T, D) -> the 20 lip landmarks' displacement from the neutral face (T, 20, 3) in
        cm, on the mean identity (the sync expert's input: motion, not who is speaking)."""
        rows = ((self.lmk_ibug >= 48) & (self.lmk_ibug < 68)).nonzero().squeeze(1)
        lmk = self.landmarks_of(params)[:, rows]
        rest = self.landmarks_of(torch.zeros_like(params[:1]))[:, rows]
        return 100.0 * (lmk - rest)
