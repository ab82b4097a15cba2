"""`talkface render`: parameter sequences to an MP4 with audio, side by side, or meshes."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import TalkfaceError
from ..fsutil import free_name
from ..render.run import render_files
from ..ui import json_target, report
from .common import JsonOpt


def command(
    params: list[Path] = typer.Argument(
        ...,
        help="parameter sequence(s) (.npz), or ARKit-52 curves (.csv, EmoTalk .npy); several need --compare",
    ),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="output .mp4 (a folder with --format mesh, .csv with csv); default: the first input's "
        "name in the current folder, numbered (-2, -3, ...) if taken",
    ),
    audio: Path = typer.Option(None, "--audio", help="speech to mux (default: the audio stored in the .npz)"),
    compare: bool = typer.Option(
        False, "--compare", help="render several sequences side by side with labels"
    ),
    labels: str = typer.Option(
        None, "--labels", help="comma-separated labels for --compare (default: file names)"
    ),
    size: int = typer.Option(512, "--size", help="height and width of each view in pixels"),
    fmt: str = typer.Option("mp4", "--format", help="mp4; mesh (per-frame OBJ/PLY); csv (ARKit-52 curves)"),
    mesh_format: str = typer.Option("ply", "--mesh-format", help="ply or obj (with --format mesh)"),
    msaa: int = typer.Option(
        0, "--msaa", help="anti-aliasing samples: 0 off (fastest), 4 smooth edges (about 2x slower)"
    ),
    ict_model: Path = typer.Option(
        None, "--ict-model", help="your own ICT-FaceKit folder (default: embedded)"
    ),
    flame_model: Path = typer.Option(
        None, "--flame-model", help="folder with your FLAME files (FLAME sequences)"
    ),
    json_out: Path = JsonOpt,
) -> None:
    """Render a parameter sequence to an MP4 (25 fps, H.264 + AAC) with its audio.

    Example: talkface render face.npz   (writes face.mp4 with the speech stored in face.npz)

    Other speech: talkface render face.npz --audio speech.wav --out face.mp4

    Side by side: talkface render --compare gt.npz ours.npz --labels GT,ours --out cmp.mp4

    ARKit export: talkface render face.npz --format csv --out face.csv
    """
    json_target(json_out)
    if len(params) > 1 and not compare:
        raise TalkfaceError("several sequences given: add --compare to render them side by side")
    summary = render_files(
        params,
        out or default_out(params[0], fmt, compare),
        audio,
        size,
        fmt,
        labels.split(",") if labels else None,
        mesh_format,
        msaa,
        ict_model,
        flame_model,
    )
    report("render", list(summary), [list(summary.values())], json_out)


def default_out(first: Path, fmt: str, compare: bool) -> Path:
    """The output of an unnamed render, in the current folder: face.npz -> face.mp4 (face-compare.mp4
    side by side), face.csv, or the mesh folder face-meshes; never a name that is taken."""
    stem = Path(first).stem + ("-compare" if compare else "")
    return free_name({"csv": f"{stem}.csv", "mesh": f"{stem}-meshes"}.get(fmt, f"{stem}.mp4"))
