"""Face models: the embedded ICT-FaceKit, FLAME through smplx from a stand-in, ARKit mapping."""

from __future__ import annotations

import collections
import json
import os
import pickle

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from talkface_cli.errors import TalkfaceError
from talkface_cli.face.arkit import ARKIT_52, arkit_csv, arkit_to_ict, ict_to_arkit, read_arkit_csv
from talkface_cli.face.flame import FlameFace
from talkface_cli.face.geometry import (
    apply_pose,
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    remove_pose,
    rigid_pose,
)
from talkface_cli.face.ict import ASSET, ICTFace, convert
from talkface_cli.face.load import load_face_model
from talkface_cli.face.safe_pickle import safe_load
from tests.flame_standin import make_flame_standin


@pytest.fixture(scope="module")
def ict() -> ICTFace:
    return ICTFace()


def test_ict_model_shapes_and_names(ict, shared):
    names = json.loads((shared / "assets/ict-facekit/FaceXModel/vertex_indices.json").read_text())[
        "expressions"
    ]
    assert ict.param_names == names and ict.dim == 53
    v = ict(torch.zeros(4, 53))
    assert v.shape == (4, 11248, 3) and torch.allclose(v[0], ict.template)
    assert ict.landmarks(v).shape == (4, 68, 3) and ict.mouth(v).shape == (4, 20, 3)
    assert "MIT" in ict.licence and (ASSET.parent / "ICT_LICENSE").is_file()
    height = ict.template[:, 1].max() - ict.template[:, 1].min()
    assert 0.2 < height < 0.5  # metres: a head with neck


def test_packaged_asset_is_the_conversion_of_upstream(shared, tmp_path):
    out = convert(shared / "assets/ict-facekit", tmp_path / "ict.safetensors")
    a, b = load_file(str(out)), load_file(str(ASSET))
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert (tmp_path / "ICT_LICENSE").read_text().startswith("MIT License")


def test_missing_asset_says_where_to_get_it(tmp_path):
    with pytest.raises(TalkfaceError, match="github.com/ICT-VGL/ICT-FaceKit"):
        convert(tmp_path, tmp_path / "x.safetensors")


def test_regions_are_where_they_belong(ict):
    t = ict.template
    mouth = ict.mouth(t[None])[0]
    lips = t[ict.region("lips")]
    assert 300 < len(lips) < 2000
    assert (lips.mean(0) - mouth.mean(0)).norm() < 0.01  # within 1 cm of the lip landmarks' centre
    eyes = t[ict.region("eyes_forehead")]
    nose_tip = ict.landmarks(t[None])[0, 30]
    assert eyes[:, 1].mean() > nose_tip[1]
    upper = t[ict.region("upper_face")]
    assert upper[:, 1].min() > mouth[:, 1].max()
    assert len(set(ict.region("lips").tolist()) & set(ict.region("upper_face").tolist())) == 0


def test_jaw_open_moves_lips_not_forehead(ict):
    p = torch.zeros(2, 53)
    p[1, ict.param_names.index("jawOpen")] = 1.0
    v = ict(p)
    d = (v[1] - v[0]).norm(dim=-1)
    assert d[ict.region("lips")].max() > 0.01  # > 1 cm
    assert d[ict.region("eyes_forehead")].max() < d[ict.region("lips")].max() * 0.2
    mouth = ict.mouth(v)  # rows are iBUG 48..67: inner lip middles 62 and 66 are rows 14 and 18
    gap = (mouth[:, 18, 1] - mouth[:, 14, 1]).abs()
    assert gap[1] > gap[0] + 0.005


def test_identity_and_pose(ict):
    shape = torch.zeros(ict.shape_dim)
    shape[0] = 1.0
    v0, v1 = ict(torch.zeros(1, 53)), ict(torch.zeros(1, 53), shape)
    assert (v1 - v0).norm(dim=-1).max() > 1e-3
    pose = torch.tensor([[0.0, 0.3, 0.0, 0.01, 0.0, 0.0]])
    vp = ict(torch.zeros(1, 53), pose=pose)
    centre = ict.template.mean(0)
    expected = (v0[0] - centre) @ axis_angle_to_matrix(pose[:, :3])[0].T + centre + pose[0, 3:]
    assert torch.allclose(vp[0], expected, atol=1e-6)


def test_a_head_pose_is_found_again_and_taken_out(ict):
    """Kabsch finds the pose that carried a rigid face; remove_pose and matrix_to_axis_angle
    invert apply_pose and axis_angle_to_matrix, up to turns near pi."""
    gen = torch.Generator().manual_seed(0)
    neutral = ict(torch.zeros(1, 53))[0].double()  # (V, 3)
    pose = torch.cat([torch.rand(20, 3, generator=gen) - 0.5, 0.02 * torch.randn(20, 3, generator=gen)], 1)
    pose = pose.double()
    pose[0] = 0  # no turn at all
    pose[1, :3] = torch.tensor([0.0, 3.0, 0.0])  # nearly a half turn
    centre = ict.template.mean(0).double()
    posed = apply_pose(neutral.expand(20, -1, -1), pose, centre)
    found = rigid_pose(posed, neutral, centre)
    assert torch.allclose(found, pose, atol=1e-6)
    assert torch.allclose(remove_pose(posed, found, centre), neutral.expand(20, -1, -1), atol=1e-9)
    assert torch.allclose(matrix_to_axis_angle(axis_angle_to_matrix(pose[:, :3])), pose[:, :3], atol=1e-6)


def test_ict_is_differentiable(ict):
    p = torch.zeros(1, 53, requires_grad=True)
    ict(p)[:, ict.region("lips")].sum().backward()
    assert p.grad.abs().sum() > 0


def test_flame_standin_loads_through_smplx(tmp_path):
    folder = make_flame_standin(tmp_path / "flame")
    face = load_face_model("flame", flame=folder)
    assert isinstance(face, FlameFace) and face.dim == 53 and face.param_names[-1] == "jaw_z"
    p = torch.zeros(3, 53)
    p[1, 0] = 2.0  # first expression component
    p[2, 50] = 0.4  # jaw opens about x
    v = face(p)
    assert v.shape == (3, face.num_vertices, 3)
    assert torch.allclose(v[0], face.template, atol=1e-6)
    assert (v[1] - v[0]).norm(dim=-1).max() > 1e-4
    moved = (v[2] - v[0]).norm(dim=-1) > 1e-4
    assert moved.any() and not moved.all()  # only the jaw part
    assert face.landmarks(v).shape == (3, 51, 3) and face.mouth(v).shape == (3, 20, 3)
    assert all(len(face.region(r)) > 0 for r in ("lips", "eyes_forehead", "upper_face"))


def test_flame_missing_folder_and_env(tmp_path, monkeypatch):
    monkeypatch.delenv("TALKFACE_FLAME", raising=False)
    with pytest.raises(TalkfaceError, match="--flame-model"):
        load_face_model("flame")
    with pytest.raises(TalkfaceError, match="no FLAME_NEUTRAL.pkl"):
        FlameFace(tmp_path)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("payload", [collections.OrderedDict(a=1), _Evil()])
def test_restricted_unpickler_refuses_other_classes(tmp_path, payload):
    path = tmp_path / "FLAME_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps({"v_template": payload}, protocol=2))
    with pytest.raises(TalkfaceError, match="refused to load class"):
        safe_load(path)
    with pytest.raises(TalkfaceError, match="refused"):
        FlameFace(tmp_path)


def test_restricted_unpickler_reads_empty_arrays(tmp_path):
    """Python 3 writes an empty array's data in a protocol-2 pickle as a call of bytes()."""
    path = tmp_path / "sounds.pkl"
    path.write_bytes(pickle.dumps({"empty": np.zeros(0, np.int16), "some": np.arange(3.0)}, protocol=2))
    data = safe_load(path)
    assert data["empty"].dtype == np.int16 and data["empty"].shape == (0,)
    np.testing.assert_array_equal(data["some"], [0.0, 1.0, 2.0])


def test_restricted_unpickler_maps_chumpy_and_sparse(tmp_path):
    folder = make_flame_standin(tmp_path / "flame")
    data = safe_load(folder / "FLAME_NEUTRAL.pkl")
    assert isinstance(data["v_template"], np.ndarray) and data["v_template"].shape[1] == 3
    assert isinstance(data["J_regressor"], np.ndarray) and data["J_regressor"].shape[0] == 5
    np.testing.assert_allclose(data["J_regressor"].sum(1), 1.0)


def test_arkit_round_trips(ict, tmp_path):
    rng = np.random.default_rng(0)
    curves = rng.random((30, 52)).astype(np.float32)
    curves[:, ARKIT_52.index("tongueOut")] = 0
    params = arkit_to_ict(curves, ict.param_names)
    assert params.shape == (30, 53)
    i = ict.param_names
    np.testing.assert_array_equal(params[:, i.index("browInnerUp_L")], params[:, i.index("browInnerUp_R")])
    np.testing.assert_array_equal(ict_to_arkit(params, ict.param_names), curves)
    (tmp_path / "a.csv").write_bytes(arkit_csv(curves))
    np.testing.assert_allclose(read_arkit_csv(tmp_path / "a.csv")[0], curves, atol=1e-6)


def test_livelink_style_csv_is_read(tmp_path):
    cols = ["Timecode", "BlendShapeCount"] + [n[0].upper() + n[1:] for n in ARKIT_52] + ["HeadYaw"]
    row = ["00:00:00:01.000", "61"] + [f"{k / 100:.2f}" for k in range(52)] + ["0.1"]
    (tmp_path / "ll.csv").write_text(",".join(cols) + "\n" + ",".join(row) + "\n")
    curves, times = read_arkit_csv(tmp_path / "ll.csv")
    np.testing.assert_allclose(times, [1 / 60])  # one frame on a 60 fps timecode (`test_livelink.py`)
    np.testing.assert_allclose(curves[0], np.arange(52) / 100, atol=1e-6)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(TalkfaceError, match="ARKit blendshape columns"):
        read_arkit_csv(tmp_path / "bad.csv")
