"""FLAME through smplx, from the user's own licensed files (never shipped, never downloaded).

The folder holds FLAME_NEUTRAL.pkl (or .npz), flame_static_embedding.pkl and optionally
FLAME_masks.pkl. smplx unpickles those files itself, which would run any class a file names, so
they are first read here with the restricted unpickler, and smplx is pointed at sanitised plain
copies in a temporary folder. Parameters: 50 expression + 3 jaw (axis-angle) = 53.
"""

from __future__ import annotations

import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import TalkfaceError
from .base import FaceModel
from .safe_pickle import safe_load

N_EXPR = 50
PARAM_NAMES = [f"expr_{i:02d}" for i in range(N_EXPR)] + ["jaw_x", "jaw_y", "jaw_z"]
LICENCE = "FLAME model (MPI-IS): non-commercial licence; supplied by the user, not distributed with talkface."
MODEL_KEYS = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")


def _read_model(folder: Path) -> dict:
    for name in ("FLAME_NEUTRAL.pkl", "FLAME_NEUTRAL.npz", "generic_model.pkl"):
        path = folder / name
        if path.is_file():
            data = safe_load(path) if path.suffix == ".pkl" else dict(np.load(path, allow_pickle=False))
            missing = [k for k in MODEL_KEYS if k not in data]
            if missing:
                raise TalkfaceError(f"{path}: not a FLAME model (missing {', '.join(missing)})")
            return {k: np.asarray(data[k]) for k in MODEL_KEYS}
    raise TalkfaceError(
        f"{folder}: no FLAME_NEUTRAL.pkl; get FLAME 2020 (https://flame.is.tue.mpg.de, "
        "registration and licence required) and pass its folder with --flame-model"
    )


def derive_regions(verts: np.ndarray, lmk: np.ndarray, masks: dict | None) -> dict[str, np.ndarray]:
    """Regions from FLAME_masks.pkl when given, else from the static landmarks (iBUG 17..67):
    lips: within 0.6 mouth-widths of the lip-landmark centre (elliptical, half as tall);
    eyes_forehead: above the nose bridge top (iBUG 27) and between the outer brow ends;
    upper_face: above the nose tip (iBUG 30) and between the outer brow ends, front half."""
    if masks is not None:
        take = lambda *keys: np.unique(
            np.concatenate([np.asarray(masks[k]).ravel() for k in keys if k in masks])
        )
        return {
            "lips": take("lips"),
            "eyes_forehead": take("eye_region", "forehead"),
            "upper_face": take("forehead", "eye_region", "nose"),
        }
    ibug = lambda i: lmk[i - 17]  # noqa: E731 - static landmark rows start at iBUG 17
    mouth = lmk[48 - 17 : 68 - 17]
    centre, width = mouth.mean(0), np.ptp(mouth[:, 0])
    d = (verts - centre) / np.array([0.6 * width, 0.3 * width, 0.6 * width])
    brow_x = (min(ibug(17)[0], ibug(26)[0]), max(ibug(17)[0], ibug(26)[0]))
    inside_x = (verts[:, 0] >= brow_x[0]) & (verts[:, 0] <= brow_x[1])
    front = verts[:, 2] > np.median(verts[:, 2])
    return {
        "lips": np.flatnonzero((d**2).sum(1) <= 1),
        "eyes_forehead": np.flatnonzero(inside_x & front & (verts[:, 1] > ibug(27)[1])),
        "upper_face": np.flatnonzero(inside_x & front & (verts[:, 1] > ibug(30)[1])),
    }


JAW = 2  # smplx's FLAME joints: root, neck, jaw, left eye, right eye


@dataclass
class JawRig:
    """FLAME with only its jaw turned (our parameters), as linear blend skinning computes it:
    vertices = rest + expression @ expr_dirs + (R_jaw - I).flatten() @ correctives, then turned by
    R_jaw about the jaw joint `pivot` + expression @ pivot_dirs with the weights `jaw_weights` (the
    other joints stay unturned, so 1 - jaw_weights keeps a vertex in place)."""

    rest: torch.Tensor  # (V, 3): zero expression, the given shape
    expr_dirs: torch.Tensor  # (50, V, 3)
    correctives: torch.Tensor  # (9, V, 3): the jaw's pose-corrective blendshapes
    jaw_weights: torch.Tensor  # (V,)
    pivot: torch.Tensor  # (3,): the jaw joint at zero expression
    pivot_dirs: torch.Tensor  # (50, 3): how the expression moves the joint (it is regressed from the mesh)


class FlameFace(FaceModel):
    """FLAME: expression (50) + jaw pose (3); shape (betas) optional; pose applied by the base."""

    kind = "flame"

    def __init__(self, folder: str | Path, n_shape: int = 100):
        super().__init__()
        import smplx

        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise TalkfaceError(f"{folder}: FLAME folder not found")
        model = _read_model(folder)
        emb_path = folder / "flame_static_embedding.pkl"
        if not emb_path.is_file():
            raise TalkfaceError(f"{emb_path}: missing (it comes with FLAME's landmark embedding files)")
        emb = safe_load(emb_path)
        masks = safe_load(folder / "FLAME_masks.pkl") if (folder / "FLAME_masks.pkl").is_file() else None
        n_dirs = model["shapedirs"].shape[-1]
        if n_dirs < 300 + N_EXPR:
            raise TalkfaceError(
                f"{folder}: shapedirs has {n_dirs} components; FLAME needs 300 shape + 100 expression"
            )
        with tempfile.TemporaryDirectory() as td:  # sanitised plain copies for smplx's own loader
            np.savez(Path(td) / "FLAME_NEUTRAL.npz", **model)
            with open(Path(td) / "flame_static_embedding.pkl", "wb") as f:
                pickle.dump(
                    {
                        "lmk_face_idx": np.asarray(emb["lmk_face_idx"]),
                        "lmk_b_coords": np.asarray(emb["lmk_b_coords"]),
                    },
                    f,
                )
            self.flame = smplx.FLAME(
                model_path=td,
                gender="neutral",
                ext="npz",
                num_betas=min(n_shape, 300),
                num_expression_coeffs=N_EXPR,
                use_face_contour=False,
                batch_size=1,
            )
        self.param_names = list(PARAM_NAMES)
        self.licence = LICENCE
        self.register_buffer("template", self.flame.v_template.float().clone())  # (V, 3)
        self.register_buffer("faces", self.flame.faces_tensor.long().clone())  # (F, 3)
        lmk_faces = self.flame.lmk_faces_idx.long()
        self.set_landmarks(
            self.faces[lmk_faces], self.flame.lmk_bary_coords.float(), torch.arange(17, 17 + len(lmk_faces))
        )
        lmk = self.landmarks(self.template[None])[0].numpy()
        for name, idx in derive_regions(self.template.numpy(), lmk, masks).items():
            self.register_buffer(f"region_{name}", torch.as_tensor(idx, dtype=torch.long))

    @property
    def shape_dim(self) -> int:
        return self.flame.num_betas

    def expression_vertices(self, params: torch.Tensor, shape: torch.Tensor | None) -> torch.Tensor:
        t = params.shape[0]
        p = params.to(self.template)
        betas = torch.zeros(t, self.flame.num_betas, dtype=p.dtype, device=p.device)
        if shape is not None and shape.numel():
            s = shape.to(p)[: self.flame.num_betas]
            betas[:, : len(s)] = s
        zeros = torch.zeros(t, 3, dtype=p.dtype, device=p.device)
        out = self.flame(
            betas=betas,
            expression=p[:, :N_EXPR],
            jaw_pose=p[:, N_EXPR:],
            global_orient=zeros,
            neck_pose=zeros,
            transl=zeros,
            leye_pose=zeros,
            reye_pose=zeros,
        )
        return out.vertices  # (T, V, 3)

    def jaw_rig(self, shape: torch.Tensor | None = None) -> JawRig:
        """The skinning rig `expression_vertices` evaluates, for exporters (glTF)."""
        f = self.flame
        with torch.no_grad():
            rest = self.expression_vertices(torch.zeros(1, self.dim), shape)[0]  # (V, 3)
            expr = f.expr_dirs[..., :N_EXPR].permute(2, 0, 1)  # (50, V, 3)
            rows = slice(9 * (JAW - 1), 9 * JAW)  # pose features start at joint 1 (the neck)
            correctives = f.posedirs[rows].reshape(9, -1, 3)
            return JawRig(
                rest,
                expr,
                correctives,
                f.lbs_weights[:, JAW],
                f.J_regressor[JAW] @ rest,
                f.J_regressor[JAW] @ expr,
            )
