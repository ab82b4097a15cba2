"""`talkface render` as a library function: files in, an MP4 or a mesh folder out."""

from __future__ import annotations

import time
from pathlib import Path

from ..audio.io import load_audio
from ..errors import TalkfaceError
from ..face.arkit import arkit_to_ict, ict_to_arkit, load_arkit_curves, resample, write_arkit_csv
from ..face.load import load_face_model
from ..face.sequence import FPS, ParamSequence, load_sequence
from ..fsutil import Output, check_can_create
from ..made_by import digest, record
from .video import render_mp4, video_made_by, write_meshes


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
    made_by: str | None = None,
) -> dict:
    """Render `params` (several: side by side) to `out`; returns a summary for the report.
    `made_by`: the MP4's record (`render_or_keep`).

    Inputs are parameter sequences (.npz) or ARKit-52 curves (.csv, EmoTalk .npy), which are mapped
    to ICT-FaceKit and resampled to 25 fps. `fmt`: mp4, mesh (per-frame meshes) or csv (ARKit CSV).
    """
    check_can_create(out, folder=fmt == "mesh")
    seqs = [load_any(p, ict) for p in params]
    kinds = {s.face_model for s in seqs}
    if len(kinds) > 1:
        raise TalkfaceError(f"{', '.join(map(str, params))}: mixed face models ({', '.join(sorted(kinds))})")
    model = load_face_model(seqs[0].face_model, ict=ict, flame=flame)
    t0 = time.perf_counter()
    if fmt == "csv":
        if model.kind != "ict" or len(seqs) > 1:
            raise TalkfaceError("--format csv exports one ICT-FaceKit sequence as ARKit curves")
        write_arkit_csv(out, ict_to_arkit(seqs[0].params, model.param_names), FPS)
    elif fmt == "mesh":
        if len(seqs) > 1:
            raise TalkfaceError("--format mesh writes one sequence; drop --compare")
        write_meshes(model, seqs[0], out, mesh_ext)
    elif fmt == "mp4":
        if labels is not None and len(labels) != len(seqs):
            raise TalkfaceError(f"--labels has {len(labels)} names for {len(seqs)} sequences")
        labels = view_labels(params, labels)
        wave = (
            load_audio(audio)
            if audio is not None
            else next((s.audio for s in seqs if s.audio is not None), None)
        )
        render_mp4(model, seqs, out, wave, size, labels, msaa, made_by)
    else:
        raise TalkfaceError(f"--format {fmt}: use mp4, mesh or csv")
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


def load_any(path: Path, ict: Path | None = None) -> ParamSequence:
    """A parameter sequence from .npz, or from ARKit curves (.csv / .npy) mapped to ICT at 25 fps."""
    if Path(path).suffix in (".csv", ".npy"):
        curves, fps = load_arkit_curves(path)
        names = load_face_model("ict", ict=ict).param_names
        return ParamSequence(resample(arkit_to_ict(curves, names), fps, FPS), names)
    return load_sequence(path)


def render_or_keep(
    target: Output,
    name: str,
    params: list[Path],
    audio: Path | None = None,
    size: int = 512,
    labels: list[str] | None = None,
    msaa: int = 0,
    ict: Path | None = None,
    flame: Path | None = None,
) -> dict:
    """`render_files` of `params` to an MP4 at `target.name(name)`, unless `target` is a folder that
    holds the video this very work made before: then that one, kept (a re-run of a stopped batch
    goes on where it stopped). The video's record names the inputs by content, the settings, and
    user face-model folders by their path. Returns the summary row."""
    made_by = record(
        "render",
        sequences=[digest(p) for p in params],
        audio=None if audio is None else digest(audio),
        size=size,
        labels=view_labels(params, labels),
        msaa=msaa,
        face=[None if f is None else str(Path(f).resolve()) for f in (ict, flame)],
    )
    if kept := target.made_before(name, made_by, video_made_by):
        return {"out": str(kept), "kept": "out"}
    return render_files(
        params, target.name(name), audio, size, "mp4", labels, "ply", msaa, ict, flame, made_by
    )


def view_labels(params: list[Path], labels: list[str] | None) -> list[str] | None:
    """The labels over side-by-side views: those given, else the file names; none for one view."""
    return labels if labels is not None or len(params) == 1 else [Path(p).stem for p in params]
