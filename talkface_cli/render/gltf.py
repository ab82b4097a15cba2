"""Parameter sequences -> binary glTF 2.0 (.glb), the one animated-face file that Blender, Maya's
and 3ds Max's glTF importers, Unity, Unreal, Godot and three.js all open.

One mesh whose morph targets are the face model's blendshapes, by name (`mesh.extras.targetNames`,
which Blender, three.js and Babylon read as shape-key names), so an artist can keep, edit or
retarget the curves, and one animation at 25 fps (LINEAR: a sequence's frames are samples). ICT-
FaceKit is linear: its 53 expressions are the targets. FLAME turns its jaw by linear blend
skinning, which glTF has too: its 50 expressions and the jaw's 9 pose-corrective blendshapes are the
targets, and a `jaw` joint under a `head` joint turns with the jaw parameters about the joint FLAME
regresses from the expression (skin weights are FLAME's). Either way every frame's vertices are the
face model's, to float precision (tested). The head pose turns the mesh node (the `head` joint with
FLAME) about the template's centre, as `FaceModel.forward` applies it. glTF holds no sound: the
speech stays in the .npz or the user's wav. The face model's licence goes in `asset.copyright`,
the record of the work in `asset.extras`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import TalkfaceError
from ..face.base import FaceModel
from ..face.geometry import axis_angle_to_matrix, vertex_normals
from ..face.sequence import FPS, ParamSequence
from ..fsutil import atomic_write_bytes
from .glb import UBYTE, UINT, Packer, glb_file, read_glb
from .scene import SKIN
from .video import check_names


@dataclass
class JawMotion:
    """A FLAME jaw joint's skin weights and motion (see `FlameFace.jaw_rig`)."""

    weights: np.ndarray  # (V,) float32
    turns: np.ndarray  # (T, 3) axis-angle
    pivots: np.ndarray  # (T, 3): where the joint is in each frame
    bind: np.ndarray  # (3,): where it is at zero expression


@dataclass
class MorphAnimation:
    rest: np.ndarray  # (V, 3) float32: all parameters zero, with the sequence's identity
    targets: np.ndarray  # (K, V, 3) float32: offsets per unit weight
    names: list[str]  # (K,)
    weights: np.ndarray  # (T, K) float32
    jaw: JawMotion | None = None


def morph_animation(model: FaceModel, seq: ParamSequence) -> MorphAnimation:
    """The sequence's vertices (without pose) as glTF plays them (see the module)."""
    shape = None if seq.shape is None else torch.from_numpy(seq.shape)
    params = torch.from_numpy(seq.params)  # (T, D)
    as32 = lambda t: np.ascontiguousarray(t.numpy(), np.float32)  # noqa: E731
    with torch.no_grad():
        if not hasattr(model, "jaw_rig"):  # linear: each parameter's own offset is its target
            rest = model.expression_vertices(torch.zeros(1, model.dim), shape)[0]  # (V, 3)
            deltas = model.expression_vertices(torch.eye(model.dim), shape) - rest  # (D, V, 3)
            return MorphAnimation(as32(rest), as32(deltas), list(model.param_names), as32(params))
        rig = model.jaw_rig(shape)
        n = len(rig.expr_dirs)  # FLAME's parameters: expression, then the jaw's axis-angle
        expression, turns = params[:, :n], params[:, n:]
        bends = (axis_angle_to_matrix(turns) - torch.eye(3)).flatten(1)  # (T, 9): the correctives' weights
        jaw = JawMotion(
            as32(rig.jaw_weights), as32(turns), as32(rig.pivot + expression @ rig.pivot_dirs), as32(rig.pivot)
        )
        return MorphAnimation(
            as32(rig.rest),
            as32(torch.cat([rig.expr_dirs, rig.correctives])),
            model.param_names[:n] + [f"jaw_corrective_{k}" for k in range(9)],
            as32(torch.cat([expression, bends], 1)),
            jaw,
        )


def quaternions(axis_angle: np.ndarray) -> np.ndarray:
    """(T, 3) axis-angle -> (T, 4) unit quaternions in glTF's (x, y, z, w) order."""
    theta = np.linalg.norm(axis_angle, axis=1, keepdims=True)  # (T, 1)
    half = np.where(theta > 1e-8, np.sin(theta / 2) / np.maximum(theta, 1e-12), 0.5)
    return np.concatenate([axis_angle * half, np.cos(theta / 2)], 1).astype(np.float32)


def write_glb(model: FaceModel, seq: ParamSequence, out: Path, made_by: str | None = None) -> dict:
    """Write `seq` as the .glb `out` (atomically); returns the report's extra columns."""
    if Path(out).suffix.lower() != ".glb":
        raise TalkfaceError(f"{out}: glTF is written as binary .glb")
    check_names(model, seq)  # `render_files` has checked that `out` can be made
    anim = morph_animation(model, seq)
    atomic_write_bytes(Path(out), glb_bytes(model, seq, anim, made_by))
    return {"morph_targets": len(anim.names), "joints": 0 if anim.jaw is None else 2}


def glb_bytes(
    model: FaceModel, seq: ParamSequence, anim: MorphAnimation, made_by: str | None = None
) -> bytes:
    """The .glb of `anim` on `model`'s mesh, with `seq`'s head pose. Positions are about the
    template's centre, which the head node (or joint) puts back."""
    centre = model.template.mean(0).numpy()
    pack = Packer()
    normals = vertex_normals(torch.from_numpy(anim.rest), model.faces).numpy()
    primitive = {
        "attributes": {
            "POSITION": pack.add(anim.rest - centre, "VEC3", 34962, bounds=True),
            "NORMAL": pack.add(normals, "VEC3", 34962),
        },
        "indices": pack.add(model.faces.numpy().ravel(), "SCALAR", 34963, UINT),
        "material": 0,
        "mode": 4,
        "targets": [{"POSITION": pack.add(t, "VEC3", 34962, bounds=True)} for t in anim.targets],
    }
    times = pack.add(np.arange(len(anim.weights), dtype=np.float32) / FPS, "SCALAR", bounds=True)
    samplers, channels = [], []

    def animate(node: int, path: str, values: np.ndarray, kind: str) -> None:
        channels.append({"sampler": len(samplers), "target": {"node": node, "path": path}})
        samplers.append({"input": times, "output": pack.add(values, kind), "interpolation": "LINEAR"})

    animate(0, "weights", anim.weights.ravel(), "SCALAR")
    nodes = [{"name": "face", "mesh": 0, "translation": centre.tolist()}]
    extra = {}
    if anim.jaw is not None:
        jaw, head = anim.jaw, nodes[0].pop("translation")
        primitive["attributes"] |= {
            # joint 1 only where it weighs: glTF wants unweighted joint slots at 0
            "JOINTS_0": pack.add(
                np.outer(jaw.weights > 0, [0, 1, 0, 0]).astype(np.uint8), "VEC4", 34962, UBYTE
            ),
            "WEIGHTS_0": pack.add(
                np.pad(np.stack([1 - jaw.weights, jaw.weights], 1), ((0, 0), (0, 2))), "VEC4", 34962
            ),
        }
        nodes[0]["skin"] = 0
        nodes += [{"name": "head", "translation": head, "children": [2]}, {"name": "jaw"}]
        bind = np.stack([np.eye(4), np.eye(4)])  # inverse bind matrices, column-major in glTF
        bind[1, :3, 3] = centre - jaw.bind
        extra["skins"] = [
            {
                "joints": [1, 2],
                "skeleton": 1,
                "inverseBindMatrices": pack.add(bind.transpose(0, 2, 1).reshape(2, 16), "MAT4"),
            }
        ]
        turn = axis_angle_to_matrix(torch.from_numpy(jaw.turns)).numpy()  # (T, 3, 3)
        # the joint turns bind-space points about its pivot of the frame: R (x - (p - c)) + p - c
        shift = jaw.pivots - centre + np.einsum("tij,tj->ti", turn, jaw.bind - jaw.pivots)
        animate(2, "rotation", quaternions(jaw.turns), "VEC4")
        animate(2, "translation", shift, "VEC3")
    if seq.pose is not None:
        head = 0 if anim.jaw is None else 1
        animate(head, "rotation", quaternions(seq.pose[:, :3]), "VEC4")
        animate(head, "translation", centre + seq.pose[:, 3:], "VEC3")
    doc = {
        "asset": {
            "version": "2.0",
            "generator": "talkface",
            "copyright": model.licence,
            "extras": {"made_by": made_by},
        },
        "scene": 0,
        "scenes": [{"nodes": [0] if anim.jaw is None else [0, 1]}],
        "nodes": nodes,
        "meshes": [
            {
                "name": "face",
                "primitives": [primitive],
                "weights": [0.0] * len(anim.names),
                "extras": {"targetNames": anim.names},
            }
        ],
        "materials": [
            {
                "name": "skin",
                "pbrMetallicRoughness": {
                    "baseColorFactor": list(SKIN),
                    "metallicFactor": 0.0,
                    "roughnessFactor": 0.7,
                },
                "doubleSided": True,
            }
        ],
        "animations": [{"name": "speech", "samplers": samplers, "channels": channels}],
        **extra,
        **pack.document(),
    }
    return glb_file(doc, pack.data())


def glb_made_by(path: Path) -> str | None:
    """The record of the work that made a .glb (None: none, or not a readable .glb)."""
    try:
        return read_glb(path)[0]["asset"]["extras"]["made_by"]
    except (OSError, ValueError, KeyError, TypeError, TalkfaceError):
        return None
