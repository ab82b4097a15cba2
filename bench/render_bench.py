"""Rendering speed: the MP4 pipeline (one scene, vertex buffer rewritten per frame, ffmpeg encoding
alongside) against a naive loop that builds a new pyrender mesh and renderer every frame; and the
differentiable renderer's forward + backward throughput at batch 64."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from bench.common import publish, timed
from talkface_cli.face.ict import ICTFace
from talkface_cli.face.sequence import ParamSequence
from talkface_cli.render.camera import frontal_camera
from talkface_cli.render.diff import render_gray
from talkface_cli.render.gl import import_pyrender
from talkface_cli.render.video import render_mp4

FRAMES, NAIVE_FRAMES, SIZE = 100, 15, 512


def _sequence(face: ICTFace) -> ParamSequence:
    t = np.arange(FRAMES) / 25
    p = np.zeros((FRAMES, 53), np.float32)
    p[:, face.param_names.index("jawOpen")] = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    p[:, face.param_names.index("mouthSmile_L")] = p[:, face.param_names.index("mouthSmile_R")] = 0.4
    audio = (0.1 * np.sin(2 * np.pi * 200 * np.arange(FRAMES * 640) / 16000)).astype(np.float32)
    return ParamSequence(p, face.param_names, audio=audio)


def _naive(face: ICTFace, seq: ParamSequence) -> None:
    """What many research scripts do: a new trimesh/pyrender mesh and renderer for every frame."""
    import trimesh

    pyrender = import_pyrender()
    verts = face(torch.from_numpy(seq.params[:NAIVE_FRAMES])).numpy()
    for v in verts:
        scene = pyrender.Scene()
        scene.add(pyrender.Mesh.from_trimesh(trimesh.Trimesh(v, face.faces.numpy(), process=False)))
        pose = np.eye(4)
        pose[2, 3] = 0.8
        scene.add(pyrender.PerspectiveCamera(yfov=0.35), pose=pose)
        scene.add(pyrender.DirectionalLight(intensity=3.0), pose=pose)
        r = pyrender.OffscreenRenderer(SIZE, SIZE)
        r.render(scene)
        r.delete()


def main() -> None:
    face = ICTFace()
    seq = _sequence(face)
    rows = []
    with tempfile.TemporaryDirectory() as td:
        for msaa in (4, 0):
            secs = timed(
                lambda m=msaa: render_mp4(face, [seq], Path(td) / f"a{m}.mp4", seq.audio, SIZE, msaa=m)
            )
            rows.append(
                {
                    "method": f"talkface render (msaa {msaa}, H.264+AAC)",
                    "frames": FRAMES,
                    "seconds": secs,
                    "frames_per_s": FRAMES / secs,
                }
            )
    secs = timed(lambda: _naive(face, seq))
    rows.append(
        {
            "method": "naive: new mesh + renderer per frame (no encoding)",
            "frames": NAIVE_FRAMES,
            "seconds": secs,
            "frames_per_s": NAIVE_FRAMES / secs,
        }
    )
    for r in rows:
        r["speed_vs_naive"] = r["frames_per_s"] / rows[-1]["frames_per_s"]
        r["goal_25fps_met"] = r["frames_per_s"] >= 25 if r is not rows[-1] else None
    publish("render", f"MP4 rendering, ICT-FaceKit, {SIZE}x{SIZE}, {torch.get_num_threads()} threads", rows)

    cam = frontal_camera(face.template[: face.face_area], 128)
    p = torch.zeros(64, 53)
    p[:, face.param_names.index("jawOpen")] = torch.linspace(0, 1, 64)
    base = face(p)
    drows = []
    for batch in (16, 64):

        def step(b=batch):
            v = base[:b].clone().requires_grad_(True)
            render_gray(v, face.faces, cam).mean().backward()

        step()
        secs = timed(step, repeat=3)
        drows.append(
            {
                "renderer": "differentiable (torch), 128x128, forward+backward",
                "batch": batch,
                "seconds": secs,
                "frames_per_s": batch / secs,
            }
        )
    publish("diff_render", "Differentiable renderer throughput", drows)


if __name__ == "__main__":
    main()
