"""Rendering: MP4 with exact frames and aligned audio, side by side, meshes, and the
differentiable renderer's gradients and silhouette against pyrender."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from talkface_cli.app import app
from talkface_cli.errors import TalkfaceError
from talkface_cli.face.arkit import arkit_csv
from talkface_cli.face.ict import ICTFace
from talkface_cli.face.sequence import ParamSequence, load_sequence
from talkface_cli.render.camera import OrthoCamera, frontal_camera
from talkface_cli.render.diff import render_gray, silhouette
from talkface_cli.render.run import load_any, render_files
from talkface_cli.render.scene import MeshRenderer
from talkface_cli.render.video import probe, render_mp4, video_made_by
from tests.flame_standin import uv_sphere

runner = CliRunner()


@pytest.fixture(scope="module")
def ict() -> ICTFace:
    return ICTFace()


def _jaw_sequence(ict: ICTFace, path, frames: int = 30, audio: bool = True) -> ParamSequence:
    p = np.zeros((frames, 53), np.float32)
    p[:, ict.param_names.index("jawOpen")] = np.linspace(0, 1, frames)
    wave = (
        (0.2 * np.sin(2 * np.pi * 220 * np.arange(frames * 640) / 16000)).astype(np.float32)
        if audio
        else None
    )
    seq = ParamSequence(p, ict.param_names, audio=wave)
    seq.save(path)
    return seq


def _frames(path) -> list[np.ndarray]:
    import cv2

    cap, out = cv2.VideoCapture(str(path)), []
    while True:
        ok, f = cap.read()
        if not ok:
            return out
        out.append(f)


def test_a_video_named_with_a_colon_is_written(ict, tmp_path, monkeypatch):
    """ffmpeg takes a relative "take:1.mp4" (and its temporary ".take:1.<pid>.tmp.mp4") as the URL
    of a protocol; the video is written as a file, and its record read back."""
    monkeypatch.chdir(tmp_path)
    seq = _jaw_sequence(ict, tmp_path / "s.npz", frames=10)
    render_mp4(ict, [seq], Path("take:1.mp4"), audio=seq.audio, size=64, made_by="a test")
    assert probe(Path("take:1.mp4"))["frames"] == 10 and video_made_by(Path("take:1.mp4")) == "a test"


def test_a_video_named_in_latin1_is_written(ict, tmp_path):
    """ffmpeg-python encodes its arguments as UTF-8 text, and a name that is not (an old archive's
    Latin-1 folder on Linux) raised a traceback: the video is written, and read back."""
    folder = tmp_path / os.fsdecode(b"r\xe9unions")
    try:
        folder.mkdir()
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system takes UTF-8 names only")
    seq = _jaw_sequence(ict, tmp_path / "s.npz", frames=10)
    out = folder / os.fsdecode(b"vid\xe9o.mp4")
    render_mp4(ict, [seq], out, audio=seq.audio, size=64, made_by="a test")
    assert probe(out)["frames"] == 10 and video_made_by(out) == "a test" and os.listdir(folder) == [out.name]


def test_a_video_named_near_the_file_systems_limit_is_written(ict, tmp_path):
    """A name of 250 bytes (a long title in CJK): its temporary sibling, the name and an ending,
    was refused as "File name too long"."""
    seq = _jaw_sequence(ict, tmp_path / "s.npz", frames=10)
    out = render_mp4(ict, [seq], tmp_path / ("語" * 82 + ".mp4"), size=64)
    assert probe(out)["frames"] == 10 and sorted(tmp_path.iterdir()) == sorted([out, tmp_path / "s.npz"])


def test_npz_round_trip(ict, tmp_path):
    seq = _jaw_sequence(ict, tmp_path / "a.npz")
    back = load_sequence(tmp_path / "a.npz")
    np.testing.assert_array_equal(back.params, seq.params)
    assert back.param_names == ict.param_names and back.face_model == "ict" and back.fps == 25
    np.testing.assert_array_equal(back.audio, seq.audio)


def test_mp4_has_one_frame_per_parameter_frame_and_aligned_audio(ict, tmp_path):
    _jaw_sequence(ict, tmp_path / "a.npz", frames=30)
    res = runner.invoke(
        app,
        [
            "render",
            str(tmp_path / "a.npz"),
            "--out",
            str(tmp_path / "a.mp4"),
            "--size",
            "128",
            "--json",
            str(tmp_path / "r.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    info = probe(tmp_path / "a.mp4")
    assert info["frames"] == 30 and (info["width"], info["height"]) == (128, 128)
    assert abs(info["audio_samples"] - 30 * 640) <= 640  # within one frame of 1.2 s at 16 kHz
    frames = _frames(tmp_path / "a.mp4")
    first, last = frames[0].astype(int), frames[-1].astype(int)
    bg = first[2, 2]
    centre = first[40:90, 40:90]
    assert (np.abs(centre - bg).sum(-1) > 30).mean() > 0.9  # a face fills the centre
    mouth = (slice(75, 100), slice(48, 80))  # the lower middle of the frame
    upper = (slice(20, 45), slice(40, 90))
    assert np.abs(last[mouth] - first[mouth]).mean() > 5 * np.abs(last[upper] - first[upper]).mean()
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


def test_audio_from_file_overrides_and_is_trimmed(ict, tmp_path):
    import soundfile as sf

    _jaw_sequence(ict, tmp_path / "a.npz", frames=25, audio=False)
    sf.write(tmp_path / "long.wav", np.zeros((48000 * 3, 2), np.float32), 48000)  # 3 s stereo 48 kHz
    render_files([tmp_path / "a.npz"], tmp_path / "a.mp4", audio=tmp_path / "long.wav", size=64)
    info = probe(tmp_path / "a.mp4")
    assert info["frames"] == 25 and abs(info["audio_samples"] - 16000) <= 640


def test_a_tracked_head_is_framed_in_the_video(ict, tmp_path):
    """A tracked clip's pose holds where the face sat in its source frame; the MP4 frames the face
    about its mean position and keeps its motion (a wide shot's face used to leave the picture)."""
    seq = _jaw_sequence(ict, tmp_path / "plain.npz", frames=10, audio=False)
    pose = np.zeros((10, 6), np.float32)
    pose[:, 3] = np.linspace(-0.01, 0.01, 10)  # the head moves 2 cm sideways
    dataclasses.replace(seq, pose=pose).save(tmp_path / "moving.npz")
    pose[:, 4] = 0.22  # and sits 22 cm above the centre, as a face high in a wide shot
    dataclasses.replace(seq, pose=pose).save(tmp_path / "high.npz")
    for name in ("moving", "high"):
        render_files([tmp_path / f"{name}.npz"], tmp_path / f"{name}.mp4", size=128)
    moving, high = _frames(tmp_path / "moving.mp4"), _frames(tmp_path / "high.mp4")
    assert max(np.abs(a.astype(int) - b).mean() for a, b in zip(moving, high)) < 1
    face = [(np.abs(f.astype(int) - f[2, 2]).sum(-1) > 30) for f in (high[0], high[5], high[-1])]
    assert face[1][40:90, 40:90].mean() > 0.9  # the face fills the centre
    xs = [np.nonzero(m)[1].mean() for m in face]
    assert xs[2] - xs[0] > 5  # and moves sideways (about 15 px)


def test_compare_side_by_side_and_meshes(ict, tmp_path):
    _jaw_sequence(ict, tmp_path / "a.npz", frames=10)
    _jaw_sequence(ict, tmp_path / "b.npz", frames=8)
    res = runner.invoke(
        app,
        [
            "render",
            "--compare",
            str(tmp_path / "a.npz"),
            str(tmp_path / "b.npz"),
            "--labels",
            "GT,ours",
            "--size",
            "96",
            "--out",
            str(tmp_path / "c.mp4"),
        ],
    )
    assert res.exit_code == 0, res.output
    info = probe(tmp_path / "c.mp4")
    assert (info["frames"], info["width"], info["height"]) == (10, 192, 96)
    res = runner.invoke(
        app, ["render", str(tmp_path / "a.npz"), "--format", "mesh", "--out", str(tmp_path / "m")]
    )
    assert res.exit_code == 0, res.output
    plys = sorted((tmp_path / "m").glob("*.ply"))
    assert len(plys) == 10 and (tmp_path / "m" / "LICENSE_FACE_MODEL.txt").is_file()
    head = plys[0].read_bytes()[:2000].decode(errors="replace")
    assert f"element vertex {ict.num_vertices}" in head and "ICT-FaceKit" in head


def test_bad_inputs_are_one_line_errors(ict, tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    np.savez(tmp_path / "nokey.npz", params=np.zeros((3, 53), np.float32))
    np.savez(
        tmp_path / "wrong.npz",
        params=np.zeros((3, 5), np.float32),
        param_names=np.array(list("abcde")),
        face_model=np.array("ict"),
    )
    np.save(tmp_path / "array.npy", np.zeros((3, 53), np.float32))
    (tmp_path / "array.npz").write_bytes((tmp_path / "array.npy").read_bytes())  # a .npy named .npz
    sf.write(tmp_path / "speech.flac", np.zeros(1600, np.float32), 16000)  # speech given as a sequence
    good = dict(params=np.zeros((3, 53), np.float32), param_names=np.array(ICTFace().param_names))
    pose = np.zeros((3, 6), np.float32)
    pose[1, 3] = np.inf  # a tracked clip's faceless frames left this (data_recipes.video, version 2)
    np.savez(tmp_path / "inf_pose.npz", **good, face_model=np.array("ict"), pose=pose)
    curves = np.full((3, 52), 0.5, np.float32)
    curves[2, 7] = np.nan
    np.save(tmp_path / "nan.npy", curves)
    (tmp_path / "nan.csv").write_bytes(arkit_csv(curves))
    for name, message in (
        ("inf_pose.npz", "inf_pose.npz: 'pose' holds NaN or infinite values"),
        ("nan.npy", "nan.npy: holds NaN or infinite values"),
        ("nan.csv", "nan.csv: row 4, column cheekSquintRight: not a number"),
        ("bad.npz", "not a .npz parameter sequence"),
        ("array.npz", "not a .npz parameter sequence"),
        ("speech.flac", "speech.flac: not a .npz parameter sequence"),
        ("nokey.npz", "missing 'param_names'"),
        ("wrong.npz", "do not match"),
        ("absent.npz", "no such file"),
    ):
        with pytest.raises(TalkfaceError, match=message):
            render_files([tmp_path / name], tmp_path / "x.mp4", size=64)
    assert not (tmp_path / "x.mp4").exists()
    res = runner.invoke(
        app, ["render", str(tmp_path / "bad.npz"), str(tmp_path / "bad.npz"), "--out", "x.mp4"]
    )
    assert res.exit_code != 0


def test_an_encoder_that_quits_is_a_one_line_error(ict, tmp_path, monkeypatch):
    """ffmpeg stopping early (a full disk) breaks the frame pipe; its last log line is the error
    and no partial video is left behind."""
    import talkface_cli.render.video as video

    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\necho 'out.mp4: No space left on device' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(video, "ffmpeg_exe", lambda: str(fake))
    _jaw_sequence(ict, tmp_path / "a.npz", frames=40)
    with pytest.raises(TalkfaceError, match="ffmpeg failed \\(out.mp4: No space left on device\\)"):
        render_files([tmp_path / "a.npz"], tmp_path / "v" / "out.mp4", size=256)
    assert list((tmp_path / "v").iterdir()) == []
    with pytest.raises(TalkfaceError, match="out.gif: videos are written as .mp4"):
        render_files([tmp_path / "a.npz"], tmp_path / "out.gif", size=64)


def test_a_size_or_samples_past_the_machines_opengl_is_a_one_line_error(ict, tmp_path):
    """Frames larger than the machine's OpenGL draws (llvmpipe: 16384 a side) or more multisample
    samples than it has (llvmpipe: 4) failed at pyrender's first draw with a GL traceback."""
    from talkface_cli.render.gl import gl_limits

    side, samples = gl_limits()
    assert side >= 2048 and samples >= 1
    _jaw_sequence(ict, tmp_path / "a.npz", frames=3)
    for args, message in (
        (["--size", str(side + 2 - side % 2)], f"this machine's OpenGL draws at most {side} pixels a side"),
        (["--msaa", str(samples + 1)], f"--msaa {samples + 1}: this machine's OpenGL takes 0 to {samples}"),
        (["--msaa", "-1"], "--msaa -1: this machine's OpenGL takes 0 to"),
    ):
        render = ["render", str(tmp_path / "a.npz"), *args, "--out", str(tmp_path / "x.mp4")]
        res = runner.invoke(app, render)
        assert isinstance(res.exception, TalkfaceError) and message in str(res.exception), res.exception
        assert not (tmp_path / "x.mp4").exists()
    res = runner.invoke(app, [*render[:2], "--msaa", str(samples), "--size", "32", "--out", render[-1]])
    assert res.exit_code == 0 and probe(tmp_path / "x.mp4")["frames"] == 3, res.output


@pytest.mark.parametrize(
    "sig, code, message", [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated")]
)
def test_a_stopped_render_says_so_and_leaves_nothing(ict, tmp_path, sig, code, message):
    """Ctrl-C or a scheduler's SIGTERM mid-video: exit 130 / 143 with one line, the partial video
    removed (SIGTERM would otherwise end Python at once, skipping the cleanup)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    _jaw_sequence(ict, tmp_path / "long.npz", frames=20000, audio=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "talkface_cli", "render", "long.npz", "--size", "64", "--out", "long.mp4"],
        cwd=tmp_path,
        env={**os.environ, "TALKFACE_NO_PROGRESS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not list(tmp_path.glob(".long.*.mp4")):
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read()
        time.sleep(0.05)
    proc.send_signal(getattr(signal, sig))
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == code
    assert err.strip().splitlines() == [f"error: {message}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.npz"]


def test_ctrl_c_inside_a_gl_call_waits_for_the_frame(ict, monkeypatch):
    """Ctrl-C landing inside one of PyOpenGL's calls (its Python wrappers run there) is acted on
    once the frame is done: raised mid-call it was swallowed or turned into a ctypes error and
    once left Mesa waiting for good, so the render ignored Ctrl-C (a CI run timed out on it)."""
    import os
    import signal

    import pyrender.renderer

    gl = MeshRenderer(ict.template.numpy(), ict.faces.numpy(), 64)
    verts = ict.template.numpy()
    want = gl.render(verts)
    read_pixels, started, finished = pyrender.renderer.glReadPixels, [], []

    def interrupted_read(*args):
        started.append(True)
        os.kill(os.getpid(), signal.SIGINT)
        out = read_pixels(*args)
        finished.append(True)
        return out

    monkeypatch.setattr(pyrender.renderer, "glReadPixels", interrupted_read)
    with pytest.raises(KeyboardInterrupt):
        gl.render(verts)
    assert finished == started and started  # every read the frame needed was made
    monkeypatch.undo()
    np.testing.assert_array_equal(gl.render(verts), want)  # the context is still sound
    gl.close()


def test_ctrl_c_while_pyrender_loads_is_not_lost():
    """trimesh, which pyrender imports, keeps any exception of an optional import in place of the
    module: a Ctrl-C there was lost and the render then hung (a KeyboardInterrupt is raised here as
    `trimesh.path` is looked up, in a fresh process, where pyrender is not loaded yet)."""
    import subprocess
    import sys

    code = (
        "import os, signal, sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'trimesh.path' and sys.meta_path[0] is self:\n"
        "            sys.meta_path.remove(self)  # one Ctrl-C\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "from talkface_cli.render.gl import import_pyrender\n"
        "try:\n"
        "    import_pyrender()\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', 'trimesh.path' in sys.modules)\n"
        "else:\n"
        "    print('lost')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["interrupted", "True"], out.stderr[-2000:]


def test_held_stop_signals_reach_the_programs_own_handler_after_the_block():
    import signal
    import threading

    from talkface_cli.errors import Terminated, stop_signals_held

    def terminate(signum, frame):
        raise Terminated

    old = signal.signal(signal.SIGTERM, terminate)
    try:
        reached = []
        with pytest.raises(Terminated), stop_signals_held(), stop_signals_held():  # nested
            signal.raise_signal(signal.SIGTERM)
            reached.append(True)
        assert reached == [True]
        assert signal.getsignal(signal.SIGTERM) is terminate
        with stop_signals_held():  # nothing caught: nothing raised
            pass
        worker = threading.Thread(target=lambda: stop_signals_held().__enter__())  # holds nothing
        worker.start()
        worker.join()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, old)


def test_differentiable_renderer_gradcheck_on_small_mesh():
    v, f = uv_sphere(6, 10, radius=0.1)
    verts = torch.tensor(v[None], dtype=torch.float64, requires_grad=True)
    faces = torch.tensor(f.astype(np.int64))
    cam = OrthoCamera((0.0, 0.0, 0.5), 0.12, size=24)
    weights = torch.rand(1, 1, 24, 24, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(
        lambda x: (render_gray(x, faces, cam) * weights).sum(), (verts,), eps=1e-6, atol=1e-5
    )


def test_differentiable_renderer_directional_derivative_on_ict(ict):
    cam = frontal_camera(ict.template[: ict.face_area], 64)
    faces = ict.faces
    base = ict(torch.zeros(1, 53)).double()
    direction = torch.zeros_like(base)
    direction[:, ict.region("lips")] = torch.randn(len(ict.region("lips")), 3, dtype=torch.float64) * 1e-3
    w = torch.rand(1, 1, 64, 64, dtype=torch.float64)
    x = base.clone().requires_grad_(True)
    (render_gray(x, faces, cam) * w).sum().backward()
    analytic = (x.grad * direction).sum()
    eps = 1e-4
    f = lambda t: (render_gray(base + t * direction, faces, cam) * w).sum()  # noqa: E731
    numeric = (f(eps) - f(-eps)) / (2 * eps)
    assert abs(analytic.abs().item()) > 1e-3
    assert torch.isclose(analytic, numeric, rtol=0.05), (analytic, numeric)


def test_a_depth_tie_goes_to_the_lowest_face_id():
    """Two triangles sharing the diagonal of a square tie in depth at every pixel centre on it; the
    winner must not depend on the order of parallel writes (training runs drifted apart on it)."""
    from talkface_cli.render.diff import rasterize

    pix = torch.tensor([[0.0, 0.0], [8.0, 0.0], [8.0, 8.0], [0.0, 8.0]]).expand(3, 4, 2)
    faces = torch.tensor([[0, 2, 1], [0, 3, 2]])  # both facing the camera; face 0 where x > y
    tri = rasterize(pix, torch.ones(3, 4), faces, 8)
    i = torch.arange(8)
    assert (tri[:, i, i] == 0).all()  # the diagonal: lowest id
    rows, cols = torch.meshgrid(i, i, indexing="ij")
    assert (tri[:, rows < cols] == 0).all() and (tri[:, rows > cols] == 1).all()
    assert (rasterize(pix, torch.ones(3, 4), faces.flip(0), 8)[:, i, i] == 0).all()


def test_differentiable_silhouette_matches_pyrender(ict):
    cam = frontal_camera(ict.template[: ict.face_area], 128)
    p = torch.zeros(2, 53)
    p[1, ict.param_names.index("jawOpen")] = 0.8
    verts = ict(p)
    gl = MeshRenderer(ict.template.numpy(), ict.faces.numpy(), 128, msaa=0, ortho=cam, double_sided=False)
    try:
        for i in range(2):
            ours = silhouette(verts[i : i + 1], ict.faces, cam)[0].numpy()
            ref = gl.depth(verts[i].numpy()) > 0
            iou = (ours & ref).sum() / (ours | ref).sum()
            assert iou >= 0.95, iou
    finally:
        gl.close()


def test_differentiable_renderer_batches_and_shades(ict):
    cam = frontal_camera(ict.template[: ict.face_area], 128)
    p = torch.zeros(3, 53)
    p[1, ict.param_names.index("jawOpen")] = 1.0
    img = render_gray(ict(p), ict.faces, cam)
    assert img.shape == (3, 1, 128, 128) and img.min() >= 0 and img.max() <= 1
    assert torch.equal(img[0], img[2]) and not torch.equal(img[0], img[1])
    assert (img[0, 0, 40:90, 40:90] > 0).float().mean() > 0.9


def test_arkit_csv_export_and_import_through_render(ict, tmp_path):
    seq = _jaw_sequence(ict, tmp_path / "a.npz", frames=20, audio=False)
    res = runner.invoke(
        app, ["render", str(tmp_path / "a.npz"), "--format", "csv", "--out", str(tmp_path / "a.csv")]
    )
    assert res.exit_code == 0, res.output
    back = load_any(tmp_path / "a.csv")  # time_s column says 25 fps: no resampling
    np.testing.assert_allclose(back.params, seq.params, atol=1e-5)
    text = (tmp_path / "a.csv").read_text()  # edited in a spreadsheet and saved again:
    (tmp_path / "excel.csv").write_bytes(("\ufeff" + text.replace("\n", "\r\n")).encode())  # "CSV UTF-8"
    (tmp_path / "de.csv").write_text(text.replace(",", ";").replace(".", ","))  # a decimal-comma locale
    (tmp_path / "WIN.CSV").write_text(text)
    for name in ("excel.csv", "de.csv", "WIN.CSV"):
        np.testing.assert_allclose(load_any(tmp_path / name).params, seq.params, atol=1e-5)
    np.save(
        tmp_path / "etf.npy", np.random.default_rng(0).random((30, 52)).astype(np.float32)
    )  # 1 s at 30 fps
    assert load_any(tmp_path / "etf.npy").num_frames == 25


def test_livelink_export_is_live_link_faces_csv_at_60_fps(ict, tmp_path, monkeypatch):
    from talkface_cli.face.arkit import ARKIT_52, arkit_to_ict, ict_to_arkit

    frames = 60  # 2.4 s: the timecode's frames wrap into seconds
    t = np.arange(frames)[:, None] / 25
    p = (0.5 * np.sin(2 * np.pi * t * (1 + np.arange(53)) / 7)).astype(np.float32)  # below 0 too
    ParamSequence(p, ict.param_names).save(tmp_path / "face.npz")
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["render", "face.npz", "--format", "livelink", "--json", "r.json"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "r.json").read_text())[0]["out"] == "face-livelink.csv"
    rows = [line.split(",") for line in (tmp_path / "face-livelink.csv").read_text().splitlines()]
    header, rows = rows[0], rows[1:]
    shapes = [n[0].upper() + n[1:] for n in ARKIT_52]
    rotations = [f"{a}{b}" for a in ("Head", "LeftEye", "RightEye") for b in ("Yaw", "Pitch", "Roll")]
    assert header[:2] == ["Timecode", "BlendShapeCount"] and header[-9:] == rotations
    assert sorted(header[2:-9]) == sorted(shapes) and header[2:4] == ["EyeBlinkLeft", "EyeLookDownLeft"]
    assert len(rows) == 144 and all(r[1] == "61" and len(r) == 63 for r in rows)
    seconds = [
        int(h) * 3600 + int(m) * 60 + int(s) + float(f) / 60 for h, m, s, f in (r[0].split(":") for r in rows)
    ]
    np.testing.assert_allclose(seconds, np.arange(144) / 60, atol=1e-9)
    values = np.array([[float(v) for v in r[2:]] for r in rows])
    assert values.min() == 0 and values.max() <= 1 and not values[:, -9:].any()
    want = np.clip(ict_to_arkit(p, ict.param_names), 0, 1)
    for j, shape in enumerate(shapes):  # where the 60 fps frames fall on the 25 fps ones: the same
        np.testing.assert_allclose(values[::12, header.index(shape) - 2], want[::5, j], atol=1e-6)
    back = load_any(tmp_path / "face-livelink.csv")  # read back as Live Link Face's: 60 fps
    assert back.num_frames == frames
    np.testing.assert_allclose(back.params[::5], arkit_to_ict(want, ict.param_names)[::5], atol=1e-6)
    res = runner.invoke(app, ["render", "face.npz", "--format", "livelink", "--json", "r.json"])
    assert json.loads((tmp_path / "r.json").read_text())[0].get("kept") == "out"


def test_unnamed_outputs_take_the_inputs_name_and_never_replace_a_file(ict, tmp_path, monkeypatch):
    _jaw_sequence(ict, tmp_path / "face.npz", frames=10)
    (tmp_path / "face.mp4").write_bytes(b"the user's own video")
    monkeypatch.chdir(tmp_path)
    render = lambda *more: runner.invoke(app, ["render", "face.npz", "--size", "64", *more])  # noqa: E731
    for more, made in (
        ((), "face-2.mp4"),
        (("--msaa", "4"), "face-3.mp4"),  # other settings: another video beside
        ((), "face-2.mp4 │\n│ kept  │ out"),  # the same work again: its video found, not copied
        (("--format", "csv"), "face.csv"),
    ):
        res = render(*more)
        assert res.exit_code == 0 and made in res.output, res.output
    assert not (tmp_path / "face-4.mp4").exists()
    assert probe(tmp_path / "face-3.mp4")["frames"] == 10
    assert (tmp_path / "face.mp4").read_bytes() == b"the user's own video"
    assert render("--format", "mesh").exit_code == 0
    assert len(list((tmp_path / "face-meshes").glob("frame_*.ply"))) == 10
    assert render("face.npz", "--compare").exit_code == 0 and (tmp_path / "face-compare.mp4").is_file()


def test_csv_and_mesh_exports_run_again_are_kept_and_other_work_goes_beside(ict, tmp_path, monkeypatch):
    _jaw_sequence(ict, tmp_path / "face.npz", frames=10, audio=False)
    monkeypatch.chdir(tmp_path)

    def render(*more: str) -> tuple[str, str | None]:  # (output's name, what was kept)
        res = runner.invoke(app, ["render", "face.npz", "--json", "r.json", *more])
        assert res.exit_code == 0, res.output
        row = json.loads((tmp_path / "r.json").read_text())[0]
        return Path(row["out"]).name, row.get("kept")

    assert render("--format", "csv") == ("face.csv", None)
    assert render("--format", "csv") == ("face.csv", "out")  # the same bytes: not written again
    assert render("--format", "mesh") == ("face-meshes", None)
    assert render("--format", "mesh") == ("face-meshes", "out")
    assert render("--format", "mesh", "--mesh-format", "obj") == ("face-meshes-2", None)
    assert render("--format", "mesh", "--mesh-format", "obj") == ("face-meshes-2", "out")
    csv_bytes = (tmp_path / "face.csv").read_bytes()
    _jaw_sequence(ict, tmp_path / "face.npz", frames=12, audio=False)  # another sequence, same name
    assert render("--format", "csv") == ("face-2.csv", None)
    assert render("--format", "mesh") == ("face-meshes-3", None)
    assert (tmp_path / "face.csv").read_bytes() == csv_bytes
    assert len(list((tmp_path / "face-meshes").glob("frame_*.ply"))) == 10
    (tmp_path / "face-meshes-3" / "made_by.json").unlink()  # a folder without its record (older talkface)
    assert render("--format", "mesh") == ("face-meshes-4", None)
    assert len(list((tmp_path / "face-meshes-4").glob("frame_*.ply"))) == 12


def test_a_render_is_told_by_its_header_without_ffmpeg_for_other_videos(ict, tmp_path, monkeypatch, shared):
    """`rendered_here` reads an MP4's `moov` box in Python (64-bit sizes, moov before or after the
    media) and starts ffmpeg only for a header holding a render's record: a folder of 1440 videos
    waited 44 s for one ffmpeg each."""
    import talkface_cli.render.video as video

    moov = b"\x00\x00\x00\x10udta" + b"metadata"
    boxes = (
        b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00"
        + b"\x00\x00\x00\x01mdat"
        + (24).to_bytes(8, "big")
        + b"\x00" * 8
        + (8 + len(moov)).to_bytes(4, "big")
        + b"moov"
        + moov
    )
    (tmp_path / "late.mp4").write_bytes(boxes)
    assert video.movie_header(tmp_path / "late.mp4") == moov
    (tmp_path / "cut.mp4").write_bytes(boxes[:30])
    assert video.movie_header(tmp_path / "cut.mp4") == b""
    _jaw_sequence(ict, tmp_path / "face.npz", frames=6)
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["render", "face.npz", "--size", "32"]).exit_code == 0
    assert video.rendered_here(tmp_path / "face.mp4")
    started = []
    monkeypatch.setattr(video, "video_made_by", lambda p: started.append(p))
    real = sorted(shared.glob("data/ravdess/Video_Speech/*/*.mp4"))
    assert real and not any(video.rendered_here(p) for p in real) and started == []


def test_a_folder_of_sequences_is_rendered_file_by_file(ict, tmp_path, monkeypatch):
    """`render faces`: its .npz files at any depth, not a copy's AppleDouble file, nor what is in the
    output folder within it, each output in its input's place under the folder (sub/a.npz is not
    a-2: a name repeats across takes' folders); a re-run keeps them; a folder without one is a
    one-line error."""
    (tmp_path / "faces" / "sub").mkdir(parents=True)
    (tmp_path / "faces" / "out").mkdir()
    for name, frames in (("a.npz", 10), ("sub/b.npz", 14), ("sub/a.npz", 8), ("out/old.npz", 12)):
        _jaw_sequence(ict, tmp_path / "faces" / name, frames=frames)
    (tmp_path / "faces" / "._a.npz").write_bytes(b"\x00\x05\x16\x07")  # macOS's copy of a's metadata
    (tmp_path / "faces" / "notes.txt").write_text("takes of Tuesday")
    monkeypatch.chdir(tmp_path)
    args = ["render", "faces", "--format", "csv", "--out", "faces/out", "--json"]
    res = runner.invoke(app, [*args, "r.json"])
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "r.json").read_text())
    assert [(r["input"], r["out"], r["frames"]) for r in rows] == [
        ("faces/a.npz", "faces/out/a.csv", 10),
        ("faces/sub/a.npz", "faces/out/sub/a.csv", 8),
        ("faces/sub/b.npz", "faces/out/sub/b.csv", 14),
    ]
    made = sorted(
        p.relative_to(tmp_path / "faces" / "out").as_posix() for p in (tmp_path / "faces" / "out").rglob("*")
    )
    assert made == ["a.csv", "old.npz", "sub", "sub/a.csv", "sub/b.csv"]
    again = runner.invoke(app, [*args, "again.json"])
    assert again.exit_code == 0, again.output
    assert [r["kept"] for r in json.loads((tmp_path / "again.json").read_text())] == ["out"] * 3
    (tmp_path / "none").mkdir()
    res = runner.invoke(app, ["render", "none"])
    assert (
        res.exit_code == 1
        and str(res.exception) == "none: a folder with no parameter sequences in it (files ending .npz)"
    )


def test_several_sequences_without_compare_are_rendered_each_into_a_folder(ict, tmp_path, monkeypatch):
    for name, frames in (("a.npz", 10), ("b.npz", 14)):
        _jaw_sequence(ict, tmp_path / name, frames=frames)
    (tmp_path / "c.npz").write_text("not a sequence")
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["render", "a.npz", "c.npz", "b.npz", "--size", "32", "--out", "videos"])
    assert str(res.exception).startswith("1 of 3 inputs failed") and "c.npz" in res.stderr
    assert {p.name: probe(p)["frames"] for p in (tmp_path / "videos").iterdir()} == {"a.mp4": 10, "b.mp4": 14}
    made = {p.name: p.read_bytes() for p in (tmp_path / "videos").iterdir()}
    res = runner.invoke(
        app, ["render", "a.npz", "b.npz", "--size", "32", "--out", "videos", "--json", "r.json"]
    )
    assert (
        res.exit_code == 0
        and [r["kept"] for r in json.loads((tmp_path / "r.json").read_text())] == ["out"] * 2
    )
    assert {p.name: p.read_bytes() for p in (tmp_path / "videos").iterdir()} == made  # run again: kept
    res = runner.invoke(app, ["render", "a.npz", "--size", "16", "--out", "videos"])  # other settings
    assert res.exit_code == 0 and probe(tmp_path / "videos" / "a-2.mp4")["width"] == 16
    res = runner.invoke(app, ["render", "a.npz", "b.npz", "--format", "mesh", "--out", "meshes"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "meshes").iterdir()) == ["a-meshes", "b-meshes"]
    res = runner.invoke(app, ["render", "a.npz", "--size", "32", "--out", "one"])  # no suffix: a folder
    assert res.exit_code == 0 and probe(tmp_path / "one" / "a.mp4")["frames"] == 10, res.output
    for more, why in (([], "give --out a folder"), (["--audio", "a.npz"], "--audio goes with one sequence")):
        res = runner.invoke(app, ["render", "a.npz", "b.npz", "--out", "v.mp4", *more])
        assert res.exit_code == 1 and why in str(res.exception)
    assert not (tmp_path / "v.mp4").exists()
