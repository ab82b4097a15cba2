"""ICT-FaceKit (MIT), the embedded default face model.

`convert` reads ICT-FaceKit's upstream `FaceXModel/` folder (OBJ or OBJ.gz) into one compact
safetensors file: face + head-and-neck vertices (0..11247), triangulated, expression deltas and
identity modes in float16, metres, regions derived from the model (see `derive_regions`), and the
MIT notice in its metadata. A converted copy ships inside the package (`assets/ict_face.safetensors`,
with ICT_LICENSE beside it), so the toolkit works with no download; `--ict-model DIR` or
TALKFACE_ICT converts a user's own download once into $TALKFACE_HOME/assets.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file

from ..errors import TalkfaceError
from ..fsutil import as_created, utf8_path
from .base import FaceModel
from .geometry import blend
from .obj import read_obj, triangulate

ASSET = Path(__file__).parent / "assets" / "ict_face.safetensors"
HEAD_VERTICES = 11248  # upstream: 0..9408 face, 9409..11247 head and neck
FACE_VERTICES = 9409
HEAD_POLYGONS = 11144
CM_TO_M = 0.01
WHERE = "ICT-FaceKit: https://github.com/ICT-VGL/ICT-FaceKit (folder FaceXModel/, MIT licence)"
MIT_NOTICE = (
    "Derived from ICT-FaceKit, Copyright (c) 2020 USC Institute for Creative Technologies, "
    "MIT License: permission is hereby granted, free of charge, to any person obtaining a copy of this "
    "software and associated documentation files, to deal in the Software without restriction, subject to "
    "the condition that the above copyright notice and this permission notice shall be included in all "
    "copies or substantial portions of the Software. THE SOFTWARE IS PROVIDED AS IS, WITHOUT WARRANTY OF "
    "ANY KIND. Full text: ICT_LICENSE beside this file."
)


def derive_regions(
    neutral: np.ndarray, disp: dict[str, np.ndarray], lmk: np.ndarray
) -> dict[str, np.ndarray]:
    """Vertex regions from how the model's own expressions move it.

    neutral (V, 3) metres; disp: expression name -> per-vertex displacement norm (V,); lmk (68,).
    - lips: moved by mouthRollLower or mouthRollUpper by more than half of that shape's maximum
      (the roll shapes move the lips and little else);
    - eyes_forehead: moved by any brow, blink, squint or wide shape by more than 20% of its maximum;
    - upper_face: face-area vertices (0..9408) above the nose tip (landmark 30).
    """

    def moved(names: list[str], frac: float) -> np.ndarray:
        m = np.zeros(len(neutral), dtype=bool)
        for n in names:
            m |= disp[n] > frac * disp[n].max()
        return m

    sides = ("_L", "_R")
    brow_eye = [
        f"{s}{x}"
        for s in ("browDown", "browInnerUp", "browOuterUp", "eyeBlink", "eyeSquint", "eyeWide")
        for x in sides
    ]
    face = np.arange(len(neutral)) < FACE_VERTICES
    return {
        "lips": np.flatnonzero(moved(["mouthRollLower", "mouthRollUpper"], 0.5) & face),
        "eyes_forehead": np.flatnonzero(moved(brow_eye, 0.2) & face),
        "upper_face": np.flatnonzero(face & (neutral[:, 1] > neutral[lmk[30], 1])),
    }


def convert(src: Path, out: Path) -> Path:
    """Convert an upstream ICT-FaceKit folder (the one holding vertex_indices.json) to `out`."""
    src = Path(src)
    if (src / "FaceXModel").is_dir():
        src = src / "FaceXModel"
    index = src / "vertex_indices.json"
    if not index.is_file():
        raise TalkfaceError(
            f"{src}: not an ICT-FaceKit FaceXModel folder (no vertex_indices.json); get {WHERE}"
        )
    meta = json.loads(index.read_text())
    names = list(meta["expressions"])

    def mesh(name: str, faces: bool = False):
        for ext in (".obj", ".obj.gz"):
            if (src / f"{name}{ext}").is_file():
                return read_obj(src / f"{name}{ext}", faces)
        raise TalkfaceError(f"{src}: {name}.obj is missing; get {WHERE}")

    neutral, polys = mesh("generic_neutral_mesh", faces=True)
    neutral = neutral[:HEAD_VERTICES]
    faces = triangulate(polys[:HEAD_POLYGONS])
    if faces.max() >= HEAD_VERTICES:
        raise TalkfaceError(f"{src}: unexpected topology (face polygons reach past the head vertices)")
    deltas, disp = [], {}
    for n in names:
        d = mesh(n)[0][:HEAD_VERTICES] - neutral
        deltas.append(d)
        disp[n] = np.linalg.norm(d, axis=1)
    identity = []
    for i in range(100):
        name = f"identity{i:03d}"
        if not any((src / f"{name}{e}").is_file() for e in (".obj", ".obj.gz")):
            break
        identity.append(mesh(name)[0][:HEAD_VERTICES] - neutral)
    lmk = np.asarray(meta["idx_to_landmark_verts"], dtype=np.int64)
    regions = derive_regions(neutral * CM_TO_M, disp, lmk)
    tensors = {
        "template": (neutral * CM_TO_M).astype(np.float32),
        "expr_deltas": (np.stack(deltas) * CM_TO_M).astype(np.float16),
        "identity": (np.stack(identity) * CM_TO_M).astype(np.float16)
        if identity
        else np.zeros((0, HEAD_VERTICES, 3), np.float16),
        "faces": faces.astype(np.int32),
        "landmarks68": lmk,
        **{f"region_{k}": v.astype(np.int64) for k, v in regions.items()},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    save_file(
        tensors,
        str(tmp),
        metadata={
            "licence": MIT_NOTICE,
            "param_names": json.dumps(names),
            "source": "ICT-FaceKit FaceXModel",
            "units": "metres",
        },
    )
    as_created(tmp)
    os.replace(tmp, out)
    licence = src.parent / "LICENSE"
    if licence.is_file():
        (out.parent / "ICT_LICENSE").write_text(licence.read_text())
    return out


def resolve_asset(source: str | Path | None = None) -> Path:
    """The compact file to load: converted from `source`/TALKFACE_ICT once, else the packaged one."""
    source = source or os.environ.get("TALKFACE_ICT")
    if source:
        src = Path(source).expanduser()
        if src.is_file() and src.suffix == ".safetensors":
            return src
        if not src.is_dir():
            raise TalkfaceError(f"{src}: ICT-FaceKit folder not found; get {WHERE}")
        from ..registry import default_home

        key = hashlib.sha1(str(src.resolve()).encode()).hexdigest()[:12]
        out = default_home() / "assets" / f"ict-{key}.safetensors"
        return out if out.is_file() else convert(src, out)
    if not ASSET.is_file():
        raise TalkfaceError(
            f"{ASSET}: the packaged ICT-FaceKit model is missing; reinstall, or pass "
            f"--ict-model DIR with {WHERE}"
        )
    return ASSET


class ICTFace(FaceModel):
    """ICT-FaceKit: 53 ARKit-named expression blendshapes (ICT's order), identity modes as shape."""

    kind = "ict"
    face_area = FACE_VERTICES  # vertices 0..9408: what the camera frames

    def __init__(self, source: str | Path | None = None):
        super().__init__()
        path = resolve_asset(source)
        with utf8_path(path) as name, safe_open(name, framework="pt") as f:
            meta = f.metadata() or {}
            t = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no items()
        self.param_names = json.loads(meta["param_names"])
        self.licence = meta.get("licence", "")
        self.source = str(path)
        self.register_buffer("template", t["template"].float())  # (V, 3)
        self.register_buffer("expr_deltas", t["expr_deltas"].float())  # (53, V, 3)
        self.register_buffer("identity", t["identity"].float())  # (S, V, 3)
        self.register_buffer("faces", t["faces"].long())  # (F, 3)
        lmk = t["landmarks68"].long()
        self.set_landmarks(
            lmk[:, None].repeat(1, 3), torch.tensor([[1.0, 0.0, 0.0]]).repeat(68, 1), torch.arange(68)
        )
        for name in ("lips", "eyes_forehead", "upper_face"):
            self.register_buffer(f"region_{name}", t[f"region_{name}"].long())

    @property
    def shape_dim(self) -> int:
        return self.identity.shape[0]

    def expression_vertices(
        self, params: torch.Tensor, shape: torch.Tensor | None, idx: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(T, 53) [+ shape] -> (T, V, 3), or only the vertices `idx` (T, len(idx), 3)."""
        template, deltas, identity = self.template, self.expr_deltas, self.identity
        if idx is not None:
            template, deltas, identity = template[idx], deltas[:, idx], identity[:, idx]
        if shape is not None and shape.numel():
            s = shape.to(template)[: self.shape_dim]
            template = template + torch.einsum("s,svc->vc", s, identity[: len(s)])
        return blend(template, deltas, params.to(template))

    def landmarks_of(self, params: torch.Tensor, shape: torch.Tensor | None = None) -> torch.Tensor:
        return self.expression_vertices(params, shape, self.lmk_idx[:, 0])  # (T, 68, 3)

    def landmark_basis(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The model is linear: landmarks = template (68, 3) + params @ expr (53, 68, 3)
        + shape @ identity (S, 68, 3). Fitting uses this to skip the full mesh."""
        idx = self.lmk_idx[:, 0]
        return self.template[idx], self.expr_deltas[:, idx], self.identity[:, idx]
