"""`talkface render`: parameter sequences to an MP4 with audio, side by side, or meshes."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import TalkfaceError
from ..fsutil import Output, check_can_create
from ..made_by import say_kept
from ..render.run import render_or_keep
from ..render.video import VIDEO_OUT
from ..ui import json_target, report_rows
from .common import JsonOpt, each_file, fail_if_any, files_in_folders


def command(
    params: list[Path] = typer.Argument(
        ...,
        help="parameter sequence(s) (.npz), or ARKit-52 curves (.csv, EmoTalk .npy); several: each in "
        "turn, or side by side with --compare; a folder: the .npz files in it, at any depth (each "
        "output in its place under --out)",
    ),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="output .mp4 (a folder with --format mesh, .glb with glb, .csv with csv and livelink), or "
        "a folder for it (a name without a suffix, or with several inputs: made if missing); default: "
        "the current folder. In a folder, outputs take the input's name, numbered (-2, -3, ...) if "
        "taken; the same work run again keeps what it made",
    ),
    audio: Path = typer.Option(None, "--audio", help="speech to mux (default: the audio stored in the .npz)"),
    compare: bool = typer.Option(
        False, "--compare", help="render several sequences side by side with labels"
    ),
    labels: str = typer.Option(
        None, "--labels", help="comma-separated labels for --compare (default: file names)"
    ),
    size: int = typer.Option(512, "--size", help="height and width of each view in pixels"),
    fmt: str = typer.Option(
        "mp4",
        "--format",
        help="mp4; glb (one animated glTF for Blender, Unity, Unreal, three.js: the face model's "
        "blendshapes as named morph targets, FLAME's jaw as a skinned joint, the head pose on the node; "
        "no sound; in Blender, widen the shape keys' slider ranges after import: README); mesh "
        "(per-frame OBJ/PLY); csv (ARKit-52 curves); livelink (the same curves as Live Link Face's CSV "
        "at 60 fps, for Unreal's LiveLinkFaceImporter / MetaHuman and the Blender, Maya and "
        "MotionBuilder importers of its takes)",
    ),
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
    """Render parameter sequences to MP4s (25 fps, H.264 + AAC) with their audio.

    Example: talkface render face.npz   (writes face.mp4 with the speech stored in face.npz)

    Other speech: talkface render face.npz --audio speech.wav --out face.mp4

    Several, each in turn: talkface render faces/*.npz --out videos   (or all of a folder's: faces)

    Side by side: talkface render --compare gt.npz ours.npz --labels GT,ours --out cmp.mp4

    ARKit export: talkface render face.npz --format csv --out face.csv

    For MetaHuman or another Live Link Face importer: talkface render face.npz --format livelink
    (writes face-livelink.csv)

    Animated glTF for a 3D tool or engine: talkface render face.npz --format glb   (writes face.glb)

    A Live Link Face take, with its .mov's sound in step: talkface render take/Slate_1_iPhone.csv
    """
    json_target(json_out)
    found = files_in_folders(params, (".npz",), "parameter sequences", (out,))
    params, names = [f for f, _ in found], dict(found)
    several = len(params) > 1 and not compare
    if several and (audio is not None or labels is not None):
        raise TalkfaceError(
            f"{'--audio' if audio is not None else '--labels'} goes with one sequence, or with --compare"
        )
    # without a suffix, --out cannot be the .mp4 or .csv: a folder (a mesh output is one anyway)
    into = several or (fmt != "mesh" and out is not None and not out.suffix)
    target = Output.given(
        out,
        into,
        "--out",
        {"csv": (".csv",), "livelink": (".csv",), "glb": (".glb",), "mesh": ()}.get(fmt, VIDEO_OUT),
    )
    if not target.folder:  # a named output that could not be written is refused before any work
        check_can_create(target.path, folder=fmt == "mesh")
    labels_list = labels.split(",") if labels else None

    def one(inputs: list[Path]) -> dict:
        # what this very work made before is kept (a stopped batch goes on)
        args = (fmt, audio, size, labels_list, mesh_format, msaa, ict_model, flame_model)
        stem = names[inputs[0]] or inputs[0].stem
        row = render_or_keep(target, default_out(stem, fmt, compare), inputs, *args)
        return {"input": ", ".join(map(str, inputs)), **row}  # which made which, from a folder too

    rows, failed = each_file([[p] for p in params] if several else [params], one, "render")
    if rows:
        report_rows("render", rows, json_out)
        say_kept(rows)
    fail_if_any(failed, len(params))


def default_out(stem: str, fmt: str, compare: bool) -> str:
    """The name of an unnamed render of the input named `stem`, to go in the current folder or
    --out's: face.npz -> face.mp4 (face-compare.mp4 side by side), face.csv, face-livelink.csv,
    face.glb, or the mesh folder face-meshes."""
    stem += "-compare" if compare else ""
    names = {"csv": ".csv", "livelink": "-livelink.csv", "glb": ".glb", "mesh": "-meshes"}
    return stem + names.get(fmt, ".mp4")
