"""`talkface render` as a library function: files in, an MP4 or a mesh folder out."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from ..audio.io import load_audio
from ..errors import TalkfaceError
from ..face.arkit import arkit_csv, arkit_to_ict, ict_to_arkit, livelink_csv, load_arkit_curves, resample
from ..face.base import FaceModel
from ..face.load import load_face_model
from ..face.sequence import FPS, ParamSequence, load_sequence
from ..face.take import is_take_csv, take_params, take_video
from ..fsutil import Output, atomic_write_bytes, check_can_create, sha256_file
from ..made_by import digest, record
from .gltf import glb_made_by, write_glb
from .video import mesh_made_by, render_mp4, video_made_by, write_meshes


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
    `made_by`: the record an MP4, a .glb or a mesh folder keeps of what made it (`render_or_keep`).

    Inputs are parameter sequences (.npz) or ARKit-52 curves (.csv, EmoTalk .npy), which are mapped
    to ICT-FaceKit and resampled to 25 fps. `fmt`: mp4, mesh (per-frame meshes) or glb (one animated
    glTF, `render.gltf`); an ARKit CSV is
    written by `render_or_keep`, which makes its bytes once to compare and write.
    """
    check_can_create(out, folder=fmt == "mesh")
    seqs, model = load_inputs(params, ict, flame)
    t0 = time.perf_counter()
    extra = {}
    if fmt in ("mesh", "glb") and len(seqs) > 1:
        raise TalkfaceError(f"--format {fmt} writes one sequence; drop --compare")
    if fmt == "mesh":
        write_meshes(model, seqs[0], out, mesh_ext, made_by)
    elif fmt == "glb":
        extra = write_glb(model, seqs[0], out, made_by)
    elif fmt == "mp4":
        if labels is not None and len(labels) != len(seqs):
            raise TalkfaceError(f"--labels has {len(labels)} names for {len(seqs)} sequences")
        labels = view_labels(params, labels)
        wave = (
            load_audio(audio, shown=True)
            if audio is not None
            else next((s.audio for s in seqs if s.audio is not None), None)
        )
        render_mp4(model, seqs, out, wave, size, labels, msaa, made_by)
    else:
        raise TalkfaceError(f"--format {fmt}: use mp4, mesh, glb, csv or livelink")
    return summary(out, seqs, model, time.perf_counter() - t0) | extra


def summary(out: Path, seqs: list[ParamSequence], model: FaceModel, seconds: float) -> dict:
    """The report row of a render to `out` that took `seconds`."""
    frames = max(s.num_frames for s in seqs)
    return {
        "out": str(out),
        "frames": frames,
        "duration_s": frames / FPS,
        "face_model": model.kind,
        "render_s": seconds,
        "frames_per_s": frames / seconds if seconds > 0 else None,
    }


def load_inputs(
    params: list[Path], ict: Path | None = None, flame: Path | None = None
) -> tuple[list[ParamSequence], FaceModel]:
    """The sequences of `params` and the one face model they all use."""
    seqs = [load_any(p, ict) for p in params]
    kinds = {s.face_model for s in seqs}
    if len(kinds) > 1:
        raise TalkfaceError(f"{', '.join(map(str, params))}: mixed face models ({', '.join(sorted(kinds))})")
    return seqs, load_face_model(seqs[0].face_model, ict=ict, flame=flame)


def load_any(path: Path, ict: Path | None = None) -> ParamSequence:
    """A parameter sequence from .npz, or from ARKit curves (.csv / .npy) mapped to ICT at 25 fps;
    a Live Link Face take's CSV with its .mov comes with that sound, from its start (`face/take.py`)."""
    if Path(path).suffix.lower() in (".csv", ".npy"):
        names = load_face_model("ict", ict=ict).param_names
        take = Path(path).suffix.lower() == ".csv" and is_take_csv(Path(path))
        video = take_video(Path(path)) if take else None
        if video is not None:
            sound = load_audio(video)
            return ParamSequence(take_params(Path(path), names, len(sound), video)[0], names, audio=sound)
        curves, fps = load_arkit_curves(path)
        return ParamSequence(resample(arkit_to_ict(curves, names), fps, FPS), names)
    return load_sequence(path)


def csv_of(seqs: list[ParamSequence], model: FaceModel, fmt: str = "csv") -> bytes:
    """The ARKit CSV (`fmt` csv: ours; livelink: Live Link Face's) of one ICT-FaceKit sequence."""
    if model.kind != "ict" or len(seqs) > 1:
        raise TalkfaceError(f"--format {fmt} exports one ICT-FaceKit sequence as ARKit curves")
    return {"csv": arkit_csv, "livelink": livelink_csv}[fmt](
        ict_to_arkit(seqs[0].params, model.param_names), FPS
    )


def render_or_keep(
    target: Output,
    name: str,
    params: list[Path],
    fmt: str = "mp4",
    audio: Path | None = None,
    size: int = 512,
    labels: list[str] | None = None,
    mesh_ext: str = "ply",
    msaa: int = 0,
    ict: Path | None = None,
    flame: Path | None = None,
) -> dict:
    """`render_files` of `params` to `target.name(name)`, unless `target` is a folder that holds the
    output this very work made before: then that one, kept (a re-run of a stopped batch goes on
    where it stopped). An MP4 keeps its record in its description tag, a .glb in its asset's
    extras, a mesh folder in a `made_by.json` beside the meshes; a CSV has no room for one, so one
    with the very bytes this work makes is kept. Returns the summary row."""
    if fmt in ("csv", "livelink"):
        return csv_or_keep(target, name, params, fmt, ict, flame)
    made_by = render_record(params, fmt, audio, size, labels, mesh_ext, msaa, ict, flame)
    read = {"mesh": mesh_made_by, "glb": glb_made_by}.get(fmt, video_made_by)
    if kept := target.made_before(name, made_by, read):
        return {"out": str(kept), "kept": "out"}
    return render_files(
        params, target.name(name), audio, size, fmt, labels, mesh_ext, msaa, ict, flame, made_by
    )


def csv_or_keep(
    target: Output, name: str, params: list[Path], fmt: str, ict: Path | None, flame: Path | None
) -> dict:
    """`render_or_keep` for an ARKit CSV: its bytes, made once (1.7 s for an hour of speech), are its
    record and what is written."""
    seqs, model = load_inputs(params, ict, flame)
    t0 = time.perf_counter()
    data = csv_of(seqs, model, fmt)
    if kept := target.made_before(name, hashlib.sha256(data).hexdigest(), file_sha256):
        return {"out": str(kept), "kept": "out"}
    out = target.name(name)
    check_can_create(out)
    atomic_write_bytes(out, data)
    return summary(out, seqs, model, time.perf_counter() - t0)


def render_record(
    params: list[Path],
    fmt: str,
    audio: Path | None,
    size: int,
    labels: list[str] | None,
    mesh_ext: str,
    msaa: int,
    ict: Path | None,
    flame: Path | None,
) -> str:
    """The record of a render: the inputs by content, the settings that shape this format's output,
    and user face-model folders by their path."""
    face = [None if f is None else str(Path(f).resolve()) for f in (ict, flame)]
    sequences = [digest(p) for p in params]
    if fmt == "mesh":
        return record("render", format=fmt, sequences=sequences, mesh_format=mesh_ext, face=face)
    if fmt == "glb":
        return record("render", format=fmt, sequences=sequences, face=face)
    return record(
        "render",
        format=fmt,
        sequences=sequences,
        audio=None if audio is None else digest(audio),
        size=size,
        labels=view_labels(params, labels),
        msaa=msaa,
        face=face,
    )


def file_sha256(path: Path) -> str | None:
    """sha256 of a file's bytes; None for a folder or an unreadable file."""
    try:
        return sha256_file(path) if path.is_file() else None
    except OSError:
        return None


def view_labels(params: list[Path], labels: list[str] | None) -> list[str] | None:
    """The labels over side-by-side views: those given, else the file names; none for one view."""
    return labels if labels is not None or len(params) == 1 else [Path(p).stem for p in params]
