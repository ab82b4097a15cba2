"""`talkface render` as a library function: files in, an MP4 or a mesh folder out."""

from __future__ import annotations

import time
from pathlib import Path

from ..audio.io import load_audio
from ..errors import TalkfaceError
from ..face.load import load_face_model
from ..face.sequence import FPS, load_sequence
from .video import render_mp4, write_meshes


def render_files(
    params: list[Path],
    out: Path,
    audio: Path | None = None,
    size: int = 512,
    fmt: str = "mp4",
    labels: list[str] | None = None,
    mesh_ext: str = "ply",
    msaa: int = 0,
    ict: Path | None = None,
    flame: Path | None = None,
) -> dict:
    """Render `params` (several: side by side) to `out`; returns a summary for the report."""
    seqs = [load_sequence(p) for p in params]
    kinds = {s.face_model for s in seqs}
    if len(kinds) > 1:
        raise TalkfaceError(f"{', '.join(map(str, params))}: mixed face models ({', '.join(sorted(kinds))})")
    model = load_face_model(seqs[0].face_model, ict=ict, flame=flame)
    t0 = time.perf_counter()
    if fmt == "mesh":
        if len(seqs) > 1:
            raise TalkfaceError("--format mesh writes one sequence; drop --compare")
        write_meshes(model, seqs[0], out, mesh_ext)
    elif fmt == "mp4":
        if labels is not None and len(labels) != len(seqs):
            raise TalkfaceError(f"--labels has {len(labels)} names for {len(seqs)} sequences")
        if len(seqs) > 1 and labels is None:
            labels = [Path(p).stem for p in params]
        wave = (
            load_audio(audio)
            if audio is not None
            else next((s.audio for s in seqs if s.audio is not None), None)
        )
        render_mp4(model, seqs, out, wave, size, labels, msaa)
    else:
        raise TalkfaceError(f"--format {fmt}: use mp4 or mesh")
    seconds = time.perf_counter() - t0
    frames = max(s.num_frames for s in seqs)
    return {
        "out": str(out),
        "frames": frames,
        "duration_s": frames / FPS,
        "face_model": model.kind,
        "render_s": seconds,
        "frames_per_s": frames / seconds if seconds > 0 else None,
    }
