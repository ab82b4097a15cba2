"""glTF export: read back by its own accessors, the morph targets, weights animation and node pose
give the face model's vertices at every frame; FLAME's jaw rotation gets correction targets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from talkface_cli.app import app
from talkface_cli.face.flame import FlameFace
from talkface_cli.face.ict import ICTFace
from talkface_cli.face.sequence import ParamSequence
from talkface_cli.render.glb import read_glb
from talkface_cli.render.gltf import write_glb
from tests.flame_standin import make_flame_standin

runner = CliRunner()


@pytest.fixture(scope="module")
def ict() -> ICTFace:
    return ICTFace()


def _accessor(doc: dict, blob: bytes, index: int) -> np.ndarray:
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    dtype = {5126: np.float32, 5125: np.uint32, 5121: np.uint8}[acc["componentType"]]
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc["type"]]
    data = np.frombuffer(blob, dtype, acc["count"] * width, view["byteOffset"] + acc.get("byteOffset", 0))
    assert view["byteOffset"] % 4 == 0 and view["byteLength"] == data.nbytes
    return data.reshape(acc["count"], width) if width > 1 else data


def _matrices(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """(T, 4) unit quaternions (x, y, z, w) and (T, 3) -> (T, 4, 4), the textbook formula."""
    x, y, z, w = rotation.T
    out = np.zeros((len(rotation), 4, 4))
    out[:, :3, :3] = np.stack(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    ).transpose(2, 0, 1)
    out[:, :3, 3], out[:, 3, 3] = translation, 1
    return out


def _played(path: Path) -> tuple[dict, np.ndarray]:
    """The document and the world-space vertices (T, V, 3) a glTF player shows at each key time:
    morph targets, then the skin's joints (or the mesh node's transform), through the node tree."""
    doc, blob = read_glb(path)
    get = lambda i: _accessor(doc, blob, i)  # noqa: E731
    prim = doc["meshes"][0]["primitives"][0]
    targets = np.stack([get(t["POSITION"]) for t in prim["targets"]])  # (K, V, 3)
    anim = doc["animations"][0]
    moves = {
        (c["target"]["node"], c["target"]["path"]): anim["samplers"][c["sampler"]] for c in anim["channels"]
    }
    times = get(moves[0, "weights"]["input"])
    np.testing.assert_allclose(times, np.arange(len(times)) / 25, atol=1e-6)
    weights = get(moves[0, "weights"]["output"]).reshape(len(times), len(targets))
    local = get(prim["attributes"]["POSITION"]) + np.einsum("tk,kvc->tvc", weights, targets)
    local = np.concatenate([local, np.ones_like(local[..., :1])], -1)  # (T, V, 4)

    def world(i: int) -> np.ndarray:  # (T, 4, 4)
        node = doc["nodes"][i]
        pick = lambda path, still: (  # noqa: E731
            get(moves[i, path]["output"]) if (i, path) in moves else np.tile(still, (len(times), 1))
        )
        own = _matrices(
            pick("rotation", node.get("rotation", [0, 0, 0, 1])),
            pick("translation", node.get("translation", [0, 0, 0])),
        )
        parent = next((j for j, n in enumerate(doc["nodes"]) if i in n.get("children", [])), None)
        return own if parent is None else world(parent) @ own

    if "skin" not in doc["nodes"][0]:
        return doc, np.einsum("tij,tvj->tvi", world(0), local)[..., :3]
    skin = doc["skins"][doc["nodes"][0]["skin"]]
    binds = get(skin["inverseBindMatrices"]).reshape(-1, 4, 4).transpose(0, 2, 1)  # column-major
    joints, share = get(prim["attributes"]["JOINTS_0"]), get(prim["attributes"]["WEIGHTS_0"])
    np.testing.assert_allclose(share.sum(1), 1, atol=1e-6)
    moved = np.stack([world(j) @ b for j, b in zip(skin["joints"], binds)])  # (J, T, 4, 4)
    blended = sum(
        share[:, k, None, None] * moved[joints[:, k].astype(int)].transpose(1, 0, 2, 3) for k in range(4)
    )  # (T, V, 4, 4)
    return doc, np.einsum("tvij,tvj->tvi", blended, local)[..., :3]


def test_glb_plays_the_ict_sequence_with_its_pose_and_identity(ict, tmp_path):
    rng = np.random.default_rng(0)
    frames = 40
    pose = np.zeros((frames, 6), np.float32)
    pose[:, :3] = rng.uniform(-0.3, 0.3, 3) * np.linspace(0, 1, frames)[:, None]  # a turning head
    pose[:, 3:] = [0.02, -0.01, 0.03] * np.sin(np.linspace(0, 3, frames))[:, None]
    params = rng.uniform(0, 1, (frames, 53)).astype(np.float32)
    shape = rng.normal(0, 1, ict.shape_dim).astype(np.float32)
    seq = ParamSequence(params, ict.param_names, pose=pose, shape=shape)
    row = write_glb(ict, seq, tmp_path / "face.glb", made_by="a record")
    doc, played = _played(tmp_path / "face.glb")
    want = ict(torch.from_numpy(params), torch.from_numpy(shape), torch.from_numpy(pose)).numpy()
    assert played.shape == want.shape == (frames, ict.num_vertices, 3)
    assert np.abs(played - want).max() < 2e-6  # metres: float32 rounding
    assert doc["meshes"][0]["extras"]["targetNames"] == ict.param_names
    assert row == {"morph_targets": 53, "joints": 0} and "skins" not in doc
    assert "ICT-FaceKit" in doc["asset"]["copyright"] and "MIT" in doc["asset"]["copyright"]
    assert doc["asset"]["extras"]["made_by"] == "a record"
    _, blob = read_glb(tmp_path / "face.glb")
    faces = _accessor(doc, blob, doc["meshes"][0]["primitives"][0]["indices"]).reshape(-1, 3)
    np.testing.assert_array_equal(faces, ict.faces.numpy())
    import trimesh  # another reader of the file (pyrender's mesh library)

    mesh = next(iter(trimesh.load(tmp_path / "face.glb").geometry.values()))
    assert mesh.vertices.shape == (ict.num_vertices, 3) and len(mesh.faces) == len(ict.faces)


def test_flame_jaw_is_a_skinned_joint_and_plays_exactly(tmp_path):
    face = FlameFace(make_flame_standin(tmp_path / "flame"))
    rng = np.random.default_rng(1)
    frames = 30
    params = rng.normal(0, 1, (frames, 53)).astype(np.float32)  # expressions move the jaw joint too
    params[:, 50:] = [0.4, 0.1, -0.1] * np.linspace(0, 1, frames)[:, None]  # the jaw opens and turns
    pose = np.zeros((frames, 6), np.float32)
    pose[:, 1], pose[:, 5] = np.linspace(0, 0.4, frames), 0.01
    shape = rng.normal(0, 1, 10).astype(np.float32)
    seq = ParamSequence(params, face.param_names, pose=pose, shape=shape)
    row = write_glb(face, seq, tmp_path / "flame.glb")
    doc, played = _played(tmp_path / "flame.glb")
    want = face(torch.from_numpy(params), torch.from_numpy(shape), torch.from_numpy(pose)).numpy()
    assert np.abs(played - want).max() < 2e-6
    names = doc["meshes"][0]["extras"]["targetNames"]
    assert names[:50] == face.param_names[:50] and names[50:] == [f"jaw_corrective_{k}" for k in range(9)]
    assert row == {"morph_targets": 59, "joints": 2} and "FLAME" in doc["asset"]["copyright"]
    assert [n["name"] for n in doc["nodes"]] == ["face", "head", "jaw"]


def test_render_format_glb_names_keeps_and_refuses(ict, tmp_path, monkeypatch):
    seq = ParamSequence(np.zeros((12, 53), np.float32), ict.param_names)
    seq.save(tmp_path / "face.npz")
    seq.save(tmp_path / "other.npz")
    monkeypatch.chdir(tmp_path)

    def render(*args: str) -> tuple[int, str, dict | None]:
        res = runner.invoke(app, ["render", *args, "--json", "r.json"], env={"COLUMNS": "200"})
        row = json.loads(Path("r.json").read_text())[0] if res.exit_code == 0 else None
        return res.exit_code, str(res.exception), row  # an error: the line `talkface` prints

    code, _, row = render("face.npz", "--format", "glb")
    assert code == 0 and row["out"] == "face.glb" and row["frames"] == 12 and "kept" not in row
    assert render("face.npz", "--format", "glb")[2]["kept"] == "out"  # the same work again: kept
    code, out, _ = render("face.npz", "--format", "glb", "--out", "face.mp4")
    assert code != 0 and out == "face.mp4: glTF is written as binary .glb"
    code, out, _ = render("face.npz", "other.npz", "--compare", "--format", "glb", "--out", "c.glb")
    assert code != 0 and "--format glb writes one sequence" in out
    assert not Path("face.mp4").exists() and not Path("c.glb").exists()
