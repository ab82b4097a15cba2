"""`talkface prep import --format vertices`: VOCASET as FaceFormer keeps it, and as its site gives it."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from talkface_cli.app import app
from talkface_cli.audio.io import load_audio
from talkface_cli.data.store import load_clip, read_manifest
from talkface_cli.errors import TalkfaceError
from talkface_cli.face.arkit import resample
from talkface_cli.face.flame import FlameFace
from talkface_cli.face.geometry import apply_pose
from talkface_cli.face.sequence import FPS
from tests.flame_standin import make_flame_standin

runner = CliRunner()
SPEAKERS = ("FaceTalk_170725_00137_TA", "FaceTalk_170809_00138_TA")


@pytest.fixture
def sentences(tmp_path):
    """(FLAME files, templates, clip name -> (speaker, shape, params, pose at 25 fps, vertices
    (120, V, 3) at 60 fps with head motion, int16 sound at VOCASET's 22 kHz))."""
    rng = np.random.default_rng(0)
    flame_dir = make_flame_standin(tmp_path / "flame")
    face = FlameFace(flame_dir)
    t60 = np.arange(120) / 60  # 2 s at 60 fps
    made, templates = {}, {}
    for k, speaker in enumerate(SPEAKERS):
        shape = rng.normal(0, 1, face.shape_dim).astype(np.float32)
        rest = face.expression_vertices(torch.zeros(1, face.dim), torch.from_numpy(shape))
        templates[speaker] = rest[0].numpy()
        wave = np.sin(2 * np.pi * (1.5 + k) * t60)[:, None]  # (120, 1): slow, as speech moves a face
        params = np.concatenate([0.8 * wave * rng.normal(0, 1, 50), 0.15 * (1 + wave) * [1, 0, 0]], 1)
        pose = np.concatenate([0.1 * wave * [0.3, 1, 0.2], 0.005 * wave * [1, 1, 0]], 1)  # nods, sways
        verts = face.expression_vertices(torch.tensor(params, dtype=torch.float32), torch.from_numpy(shape))
        verts = apply_pose(verts, torch.tensor(pose, dtype=torch.float32), face.template.mean(0))
        sound = (rng.normal(0, 3000, 44000)).astype(np.int16)
        made[f"{speaker}_sentence0{k + 1}"] = (
            speaker,
            shape,
            resample(params, 60, FPS),
            resample(pose, 60, FPS),
            verts.numpy(),
            sound,
        )
    return flame_dir, templates, made


def as_faceformer_keeps_it(root: Path, templates: dict, made: dict) -> None:
    """vertices_npy/<name>.npy (T, 3V), wav/<name>.wav, and a Python 2 templates.pkl."""
    (root / "vertices_npy").mkdir(parents=True)
    (root / "wav").mkdir()
    for name, (*_, verts, sound) in made.items():
        np.save(root / "vertices_npy" / f"{name}.npy", verts.reshape(len(verts), -1))
        sf.write(root / "wav" / f"{name}.wav", sound, 22000, subtype="PCM_16")
    (root / "templates.pkl").write_bytes(pickle.dumps(templates, protocol=2))


def test_import_vertices_as_faceformer_keeps_vocaset(tmp_path, monkeypatch, sentences):
    """Each clip is fitted back to the shape, pose and parameters that made it, at 25 fps, also from
    FaceFormer's vocaset/ folder given as it is; a speaker without a template, another topology
    and no templates.pkl are refused."""
    flame_dir, templates, made = sentences
    root = tmp_path / "vocaset"
    as_faceformer_keeps_it(root, templates, made)
    args = [
        "prep",
        "import",
        str(root / "vertices_npy"),
        "--format",
        "vertices",
        "--audio-dir",
        str(root / "wav"),
    ]
    args += ["--templates", str(root / "templates.pkl"), "--flame-model", str(flame_dir)]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "s"), "--json", "-"])
    assert res.exit_code == 0, res.output
    for r in read_manifest(tmp_path / "s"):
        speaker, shape, params, pose, *_ = made[r["id"]]
        clip = load_clip(tmp_path / "s", r["id"])
        assert (r["speaker"], r["face_model"], r["frames"]) == (speaker, "flame", 50)
        assert r["fit_mm"] < 0.05, r  # mean vertex distance to the fitted model
        np.testing.assert_allclose(clip["shape"], shape, atol=1e-3)
        np.testing.assert_allclose(clip["pose"], pose, atol=2e-3)
        np.testing.assert_allclose(clip["params"], params, atol=0.05)
    bare = ["prep", "import", str(root), "--format", "vertices", "--flame-model", str(flame_dir)]
    assert (
        runner.invoke(app, [*bare, "--out", str(tmp_path / "s_bare")]).exit_code == 0
    )  # as FaceFormer keeps it
    for r in read_manifest(tmp_path / "s"):
        mine, theirs = load_clip(tmp_path / "s_bare", r["id"]), load_clip(tmp_path / "s", r["id"])
        np.testing.assert_array_equal(mine["params"], theirs["params"])
    del templates[SPEAKERS[1]]
    (root / "templates.pkl").write_bytes(pickle.dumps(templates, protocol=2))
    np.save(root / "vertices_npy" / f"{SPEAKERS[0]}_sentence09.npy", np.zeros((120, 30)))
    np.save(root / "vertices_npy" / f"{SPEAKERS[0]}_sentence10.npy", np.zeros(120))
    for k in (9, 10):
        sf.write(root / "wav" / f"{SPEAKERS[0]}_sentence{k:02d}.wav", np.zeros(32000, np.float32), 16000)
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "s2"), "--json", "-"])
    assert res.exit_code == 3, res.output
    errors = {Path(e["source"]).stem: e["error"] for e in json.loads(res.stdout)["errors"]}
    assert errors[f"{SPEAKERS[1]}_sentence02"].endswith(
        f"no template for the speaker {SPEAKERS[1]} in --templates"
    )
    assert errors[f"{SPEAKERS[0]}_sentence09"].endswith(
        "10 vertices a frame; neither ICT-FaceKit's 11248 nor FLAME's 266"
    )
    assert errors[f"{SPEAKERS[0]}_sentence10"].endswith("not vertices (T, 3V) or (T, V, 3)")
    (root / "templates.pkl").rename(tmp_path / "templates.pkl")
    res = runner.invoke(app, [*args[:-4], "--out", str(tmp_path / "s3")])
    assert isinstance(res.exception, TalkfaceError) and "none in ROOT or its parent" in str(res.exception)
    (tmp_path / "templates.pkl").rename(root / "templates.pkl")
    voca = root / "vertices_npy" / f"{SPEAKERS[0]}_sentence11.npy"
    np.save(voca, np.zeros((120, 3 * 5023), np.float32))  # FLAME's count, and no FLAME files given
    sf.write(root / "wav" / f"{voca.stem}.wav", np.zeros(32000, np.float32), 16000)
    monkeypatch.delenv("TALKFACE_FLAME", raising=False)  # as another test (or `--flame-model`) may leave it
    res = runner.invoke(app, [*args[:-2], "--out", str(tmp_path / "s4"), "--json", "-"])
    errors = {Path(e["source"]).name: e["error"] for e in json.loads(res.stdout)["errors"]}
    assert errors[voca.name].startswith(f"{voca}: these faces are FLAME's: pass --flame-model DIR")


def as_its_site_gives_it(root: Path, templates: dict, made: dict) -> None:
    """data_verts.npy (N, V, 3) with the sentences' frames interleaved, subj_seq_to_idx.pkl whose
    frame tables are not in frame order, raw_audio_fixed.pkl and templates.pkl, all Python 2's."""
    rows, index, sounds, n = [], {}, {}, 0
    for name, (speaker, *_, verts, sound) in made.items():
        sentence = name[len(speaker) + 1 :]
        order = np.random.default_rng(len(rows)).permutation(len(verts))  # frame k is row n + order[k]
        stored = np.empty_like(verts)
        stored[order] = verts
        rows.append(stored)
        index.setdefault(speaker, {})[sentence] = {int(k): n + int(order[k]) for k in order[::-1]}
        sounds.setdefault(speaker, {})[sentence] = {"audio": sound, "sample_rate": 22000}
        n += len(verts)
    root.mkdir(parents=True)
    np.save(root / "data_verts.npy", np.concatenate(rows))
    for file, table in [
        ("subj_seq_to_idx.pkl", index),
        ("raw_audio_fixed.pkl", sounds),
        ("templates.pkl", templates),
    ]:
        (root / file).write_bytes(pickle.dumps(table, protocol=2))


def test_import_vertices_from_vocasets_own_download(tmp_path, sentences):
    """VOCASET's site gives four files, which FaceFormer and the others convert with a script of
    their own before use: read as they are, they make the same store as FaceFormer's layout does
    (names, frames in frame-number order, sound); a download missing a file, or whose tables do
    not hold, is refused in one line."""
    flame_dir, templates, made = sentences
    as_faceformer_keeps_it(tmp_path / "ff", templates, made)
    raw = tmp_path / "VOCASET"
    as_its_site_gives_it(raw, templates, made)
    flame = ["--flame-model", str(flame_dir)]
    ff = ["prep", "import", str(tmp_path / "ff/vertices_npy"), "--format", "vertices", *flame]
    ff += ["--audio-dir", str(tmp_path / "ff/wav"), "--templates", str(tmp_path / "ff/templates.pkl")]
    assert runner.invoke(app, [*ff, "--out", str(tmp_path / "s_ff")]).exit_code == 0
    ours = ["prep", "import", str(raw), "--format", "vertices", *flame, "--json", "-", "--out"]
    res = runner.invoke(app, [*ours, str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    recs = {r["id"]: r for r in read_manifest(tmp_path / "s")}
    assert {i: r["speaker"] for i, r in recs.items()} == {name: m[0] for name, m in made.items()}
    for r in read_manifest(tmp_path / "s_ff"):
        mine, theirs = load_clip(tmp_path / "s", r["id"]), load_clip(tmp_path / "s_ff", r["id"])
        assert recs[r["id"]]["source"] == str(raw / "data_verts.npy")
        np.testing.assert_array_equal(mine["audio"], theirs["audio"])
        for key in ("params", "pose", "shape"):
            np.testing.assert_allclose(mine[key], theirs[key], atol=1e-5)
        np.testing.assert_allclose(mine["params"], made[r["id"]][2], atol=0.05)
    wav = tmp_path / "ff/wav" / f"{SPEAKERS[0]}_sentence01.wav"
    assert abs(len(load_audio(wav)) - 32000) < 10  # 22 kHz int16 made 16 kHz float
    sound = raw / "raw_audio_fixed.pkl"
    sounds = pickle.loads(sound.read_bytes())
    sound.unlink()
    res = runner.invoke(app, [*ours, str(tmp_path / "s2")])
    assert str(res.exception) == (
        f"{sound}: no such file (VOCASET's download: data_verts.npy, subj_seq_to_idx.pkl, "
        "raw_audio_fixed.pkl)"
    )
    sound.write_bytes(pickle.dumps({SPEAKERS[0]: [1, 2]}, protocol=2))
    res = runner.invoke(app, [*ours, str(tmp_path / "s2")])
    assert str(res.exception) == f"{sound}: not VOCASET's speaker -> sentence -> {{'audio', 'sample_rate'}}"
    del sounds[SPEAKERS[1]]
    sounds[SPEAKERS[0]]["sentence01"]["audio"] = np.zeros(0, np.int16)
    sound.write_bytes(pickle.dumps(sounds, protocol=2))
    res = runner.invoke(app, [*ours, str(tmp_path / "s2")])
    assert res.stdout, res.exception
    errors = [e["error"] for e in json.loads(res.stdout)["errors"]]
    assert res.exit_code == 3 and errors == [
        f"{raw / 'data_verts.npy'}: {SPEAKERS[0]}_sentence01: its sound in raw_audio_fixed.pkl is empty",
        f"{raw / 'data_verts.npy'}: {SPEAKERS[1]}_sentence02: no sound for it in raw_audio_fixed.pkl",
    ]
