"""Parameter sequences -> MP4 (H.264 yuv420p, AAC audio aligned at t=0) or per-frame meshes.

One `MeshRenderer` serves every frame (and every sequence of a side-by-side comparison); frames go
through a pipe into ffmpeg, which encodes on another core while the next frame renders.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import cv2
import ffmpeg
import numpy as np
import torch

from ..audio.io import SAMPLE_RATE, ffmpeg_exe, load_audio, media_path, write_wav
from ..errors import TalkfaceError
from ..face.base import FaceModel
from ..face.geometry import vertex_normals
from ..face.obj import write_obj, write_ply
from ..face.sequence import FPS, ParamSequence
from ..fsutil import atomic_dir, check_can_create, hidden
from ..track.video import capture
from ..ui import progress
from .gl import gl_limits
from .scene import MeshRenderer

CHUNK = 128  # frames of vertices computed at once (bounded memory for long sequences)
VIDEO_OUT = (".mp4", ".mov", ".mkv", ".m4v")  # containers that take H.264 + AAC
OUT = "<talkface output>"  # the output's place in the ffmpeg command, until it is compiled


def check_video_out(out: Path) -> Path:
    """`out` if its container takes H.264 + AAC, else a one-line error; commands call it before
    they start work, so a typo does not cost a long run."""
    if Path(out).suffix.lower() not in VIDEO_OUT:
        raise TalkfaceError(f"{out}: videos are written as {', '.join(VIDEO_OUT)} (H.264 video, AAC audio)")
    return check_can_create(out)


def sequence_vertices(model: FaceModel, seq: ParamSequence, start: int, stop: int) -> torch.Tensor:
    """Vertices (n, V, 3) of frames [start, stop) of `seq`."""
    check_names(model, seq)
    with torch.no_grad():
        p = torch.from_numpy(seq.params[start:stop])
        shape = None if seq.shape is None else torch.from_numpy(seq.shape)
        pose = None if seq.pose is None else torch.from_numpy(seq.pose[start:stop])
        return model(p, shape, pose)


def check_names(model: FaceModel, seq: ParamSequence) -> None:
    """A one-line error unless `seq` holds `model`'s parameters."""
    if seq.param_names != model.param_names:
        raise TalkfaceError(
            f"param_names ({len(seq.param_names)}) do not match the {model.kind} face model's "
            f"{model.dim} parameters"
        )


def centred(seq: ParamSequence) -> ParamSequence:
    """`seq` with its head translation taken about its mean, for a view framed on the face. A
    tracked clip's pose says where the face sat in its source frame (0.2 m off centre in a wide
    shot, out of the picture); the head's motion is kept. Mesh exports keep the pose as it is."""
    if seq.pose is None:
        return seq
    pose = seq.pose.copy()  # (T, 6): axis-angle, translation
    pose[:, 3:] -= pose[:, 3:].mean(0)
    return dataclasses.replace(seq, pose=pose)


def _frames(model: FaceModel, seqs: list[ParamSequence], size: int, msaa: int, labels: list[str] | None):
    """Yield RGB frames (size, size * len(seqs), 3): the sequences side by side, shorter ones held,
    each head centred on its mean position."""
    seqs = [centred(s) for s in seqs]
    frame_ref = model.template[: getattr(model, "face_area", model.num_vertices)].numpy()
    renderer = MeshRenderer(model.template.numpy(), model.faces.numpy(), size, frame=frame_ref, msaa=msaa)
    total = max(s.num_frames for s in seqs)
    try:
        for start in range(0, total, CHUNK):
            stop = min(total, start + CHUNK)
            chunks = []
            for s in seqs:
                idx = torch.arange(start, stop).clamp(max=s.num_frames - 1)
                lo = int(idx[0])
                v = sequence_vertices(model, s, lo, int(idx[-1]) + 1)[idx - lo]
                chunks.append((v.numpy(), vertex_normals(v, model.faces).numpy()))
            for i in range(stop - start):
                tiles = [renderer.render(v[i], n[i]) for v, n in chunks]
                if labels:
                    tiles = [_label(t, text) for t, text in zip(tiles, labels)]
                yield np.concatenate(tiles, axis=1)
    finally:
        renderer.close()


def _label(img: np.ndarray, text: str) -> np.ndarray:
    img = np.ascontiguousarray(img)
    scale = img.shape[0] / 512
    cv2.putText(
        img,
        text,
        (int(12 * scale), int(34 * scale)),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.9 * scale,
        (255, 255, 255),
        max(1, int(2 * scale)),
        cv2.LINE_AA,
    )
    return img


def render_mp4(
    model: FaceModel,
    seqs: list[ParamSequence],
    out: Path,
    audio: np.ndarray | None = None,
    size: int = 512,
    labels: list[str] | None = None,
    msaa: int = 0,
    made_by: str | None = None,
) -> Path:
    """Render one or more sequences side by side into `out` (written under a temporary name);
    `made_by` records the work in the video's description tag (`video_made_by` reads it)."""
    if size < 16 or size % 2:
        raise TalkfaceError(f"--size {size}: use an even number of pixels >= 16")
    side, samples = gl_limits()  # past them, pyrender's first draw failed with a GL traceback
    if size > side:
        raise TalkfaceError(f"--size {size}: this machine's OpenGL draws at most {side} pixels a side")
    if not 0 <= msaa <= samples:
        raise TalkfaceError(f"--msaa {msaa}: this machine's OpenGL takes 0 to {samples} samples")
    out = check_video_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    total = max(s.num_frames for s in seqs)
    duration = total / FPS
    tmp = out.with_name(f"{hidden(out.stem)}.{os.getpid()}.tmp{out.suffix}")
    with tempfile.TemporaryDirectory() as td:
        video = ffmpeg.input(
            "pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{size * len(seqs)}x{size}", r=FPS
        )
        streams = [video]
        audio_args = {}
        if audio is not None:
            wav = Path(td) / "audio.wav"
            write_wav(wav, audio, SAMPLE_RATE)
            streams.append(ffmpeg.input(str(wav)).audio.filter("apad"))
            audio_args = {"acodec": "aac", "audio_bitrate": "128k"}
        # ffmpeg-python hashes its arguments as UTF-8 text: the output's name, which may not be
        # (an old archive's Latin-1 folder), takes the place of OUT in the command it compiles
        args = (
            ffmpeg.output(
                *streams,
                OUT,
                vcodec="libx264",
                pix_fmt="yuv420p",
                preset="veryfast",
                crf=18,
                t=f"{duration:.6f}",
                movflags="+faststart",
                **{"metadata:g:0": f"comment={model.licence[:200]}"},
                **({"metadata:g:1": f"description={made_by}"} if made_by else {}),
                **audio_args,
            )
            .overwrite_output()
            .global_args("-v", "error")
            .compile(cmd=ffmpeg_exe())
        )
        args = [media_path(tmp) if a == OUT else a for a in args]
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            stopped = False
            try:
                with progress() as bar:
                    job = bar.add_task(f"render {out.name}", total=total, unit="frame")
                    for frame in _frames(model, seqs, size, msaa, labels):
                        proc.stdin.write(frame.tobytes())
                        bar.advance(job)
                proc.stdin.close()
            except BrokenPipeError:  # ffmpeg quit early (a full disk, say): its log says why, below
                stopped = True
            err = proc.stderr.read().decode(errors="replace")
            if proc.wait() != 0 or stopped:
                raise TalkfaceError(
                    f"{out}: ffmpeg failed ({err.strip().splitlines()[-1] if err.strip() else 'no message'})"
                )
        except BaseException:
            proc.kill()
            proc.wait()
            tmp.unlink(missing_ok=True)
            raise
    os.replace(tmp, out)
    return out


def video_made_by(path: Path) -> str | None:
    """The `made_by` record in a video's description tag (None: none, or not a readable video)."""
    cmd = [ffmpeg_exe(), "-v", "error", "-i", media_path(path), "-f", "ffmetadata", "-"]
    try:
        done = subprocess.run(cmd, capture_output=True, encoding="utf-8", errors="replace", timeout=60)
        lines = done.stdout.splitlines()
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in lines:  # ffmetadata: key=value, with = ; # \\ and newlines escaped by a backslash
        key, sep, value = line.partition("=")
        if sep and key.lower() == "description":
            return re.sub(r"\\(.)", r"\1", value)
    return None


def rendered_here(path: Path) -> bool:
    """Is `path` a video that talkface rendered (its description tag holds a render's record)? In a
    folder of speech and video, an earlier `animate clips --render clips` left these beside it.
    An MP4 or MOV without the record in its header (`movie_header`, read here: 0.01 ms) is not one,
    with no ffmpeg started for it (30 ms a video: 44 s before a folder of RAVDESS's 1440 began)."""
    suffix = path.suffix.lower()
    if suffix not in VIDEO_OUT:
        return False
    if suffix != ".mkv" and b'"work":"render"' not in movie_header(path):
        return False
    try:
        made = json.loads(video_made_by(path) or "null")
    except json.JSONDecodeError:  # some other tool's description
        return False
    return isinstance(made, dict) and made.get("work") == "render"


def movie_header(path: Path) -> bytes:
    """The `moov` box of an MP4 / MOV (its tracks' tables and metadata), found by walking the
    file's top-level boxes; b"" where there is none or the file cannot be read."""
    try:
        with open(path, "rb") as f:
            while len(head := f.read(8)) == 8:
                size, kind = int.from_bytes(head[:4], "big"), head[4:]
                if size == 1:  # a 64-bit size follows the type
                    size, at = int.from_bytes(f.read(8), "big"), 16
                else:
                    at = 8
                if kind == b"moov":
                    return f.read(size - at) if size else f.read()
                if size < at:  # 0: the box runs to the end of the file
                    return b""
                f.seek(size - at, os.SEEK_CUR)
    except OSError:
        pass
    return b""


MESH_RECORD = "made_by.json"  # in a mesh folder: the record of what made it (`mesh_made_by`)


def write_meshes(
    model: FaceModel, seq: ParamSequence, out: Path, ext: str = "ply", made_by: str | None = None
) -> Path:
    """Write frame_00000.<ext> ... into the folder `out` (created whole, atomically), with the face
    model's licence and `made_by`, the record of the work, in MESH_RECORD."""
    if ext not in ("obj", "ply"):
        raise TalkfaceError(f"--mesh-format {ext}: use obj or ply")
    writer = write_ply if ext == "ply" else write_obj
    faces = model.faces.numpy()
    try:
        with atomic_dir(Path(out)) as tmp, progress() as bar:
            job = bar.add_task(f"meshes {Path(out).name}", total=seq.num_frames, unit="frame")
            for start in range(0, seq.num_frames, CHUNK):
                verts = sequence_vertices(model, seq, start, min(seq.num_frames, start + CHUNK)).numpy()
                for i, v in enumerate(verts):
                    writer(tmp / f"frame_{start + i:05d}.{ext}", v, faces, header=model.licence)
                    bar.advance(job)
            if model.licence:
                (tmp / "LICENSE_FACE_MODEL.txt").write_text(model.licence + "\n")
            if made_by:
                (tmp / MESH_RECORD).write_text(made_by + "\n")
    except FileExistsError:
        raise TalkfaceError(f"{out}: exists already; choose a new output folder") from None
    return Path(out)


def mesh_made_by(folder: Path) -> str | None:
    """The record in a mesh folder (None: none, or not such a folder)."""
    try:
        return (Path(folder) / MESH_RECORD).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def probe(path: Path) -> dict:
    """Frame count, frame size and decoded audio length of a video (for tests and checks)."""
    cap = capture(path)
    frames = 0
    while cap.grab():
        frames += 1
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    try:
        samples = len(load_audio(Path(path)))
    except TalkfaceError:
        samples = 0
    return {"frames": frames, "width": w, "height": h, "audio_samples": samples}
