"""`talkface eval`: one command for a paper's table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..device import resolve_device
from ..errors import TalkfaceError
from ..fsutil import atomic_file, atomic_write_bytes, atomic_write_json, check_can_create, refuse_foreign
from ..lock import held, working_in
from ..ui import console, emit, json_target
from .common import DeviceOpt, FlameModelOpt, HubertAtOpt, JsonOpt, finite_number, seed_option, use_assets

if TYPE_CHECKING:
    from ..face.base import FaceModel

TEMPLATE = "template.ply"  # beside the speech: the mesh a vertex method animates


def command(
    emg: list[str] = typer.Option(
        None, "--emg", help="EMG model(s) to score (registry names); repeat to line up ablations"
    ),
    data: list[Path] = typer.Option(..., "--data", help="clip store(s)"),
    split: str = typer.Option("test", "--split", help="split to score: test, val or train"),
    syncnet: Path = typer.Option(
        None, "--syncnet", help="official SyncNet weights (syncnet_v2.model) for LSE-D/C on renders"
    ),
    emotion_features: str = typer.Option(
        None,
        "--emotion-features",
        help="another EDE (registry name) whose video branch gives the VE-FID features",
    ),
    out: Path = typer.Option(
        None,
        "--out",
        help="report folder (default: ./eval-<model name>, numbered -2, -3, ... past another evaluation's)",
    ),
    examples: int = typer.Option(
        0, "--examples", min=0, help="render side-by-side MP4s (GT | model | mean face) for N clips"
    ),
    limit: int = typer.Option(0, "--limit", min=0, help="score only the first N clips (0: all)"),
    swaps: bool = typer.Option(
        False,
        "--swaps",
        help="also swap each clip's emotion for another clip's and score the swaps, beside the lip "
        "error of the clip's own GT moved by the two emotions' mean-face difference",
    ),
    temperature: float = typer.Option(
        0.5, "--temperature", min=0.0, callback=finite_number, help="sampling temperature of the models"
    ),
    seed: int = seed_option("random seed of the models' sampling"),
    predictions: list[Path] = typer.Option(
        None,
        "--predictions",
        help="another method's outputs to score beside the models: a folder of <clip id>.npz, "
        "ARKit-52 .npy (EmoTalk) / .csv, or vertices .npy (T, V, 3) on the exported template "
        "(FaceFormer-style; fitted to the face model); the folder's name names the row (repeatable)",
    ),
    export_speech: Path = typer.Option(
        None,
        "--export-speech",
        help="only write the scored clips' speech to this folder as <clip id>.wav, and the face "
        "model's template.ply, for another method to animate (then score its outputs with --predictions)",
    ),
    device: str = DeviceOpt,
    flame_model: Path = FlameModelOpt,
    hubert_at: Path = HubertAtOpt,
    json_out: Path = JsonOpt,
) -> None:
    """Score models against baselines: LVE, EVE, FDD, LSE-D/C, VE-FID, emotion accuracy, speed.

    Writes report.json, report.md and report.tex (the main table for a paper, each column's best in
    bold) to --out, and example MP4s; prints the same tables. Stopped part way, the same command
    goes on from the clips it had scored.

    Example: talkface eval --emg emg/synth --data data/synth --split test --examples 2

    Another method (e.g. EmoTalk) beside it: talkface eval --data data/synth --export-speech speech,
    run it on speech/*.wav saving <clip id>.npy into emotalk/, then
    talkface eval --emg emg/synth --data data/synth --predictions emotalk

    For a script: talkface eval --emg emg/synth --data data/synth --json - | jq '.table'
    """
    json_target(json_out)
    use_assets(flame_model, hubert_at)
    from ..data.store import SPLITS
    from ..eval.kept import forget
    from ..eval.run import evaluate
    from ..eval.tables import caveats, latex, markdown, rich_tables

    if split not in SPLITS:
        raise TalkfaceError(f"--split {split}: not one of {', '.join(SPLITS)}")
    if export_speech is not None:
        return write_speech(data, split, limit or None, export_speech, json_out)
    if not emg:
        raise TalkfaceError("--emg: name the EMG model(s) to score (talkface models list shows them)")
    work = {  # what this evaluation is, as its report records it (`default_report`)
        "models": emg,
        "data": [str(d.resolve()) for d in data],
        "split": split,
        "limit": limit,
        "swaps": swaps,
        "predictions": [str(p.resolve()) for p in predictions or []],
        "syncnet": syncnet and str(syncnet.resolve()),
        "emotion_features": emotion_features,
        "temperature": temperature,
        "seed": seed,
    }
    folder = check_can_create(out or default_report(emg[0], work), folder=True)
    refuse_foreign(
        folder, ("report.json", "report.md", "report.tex", "examples"), "an evaluation report", "--out"
    )
    dev = resolve_device(device)
    with working_in(folder, "eval"):  # its kept scores are this run's alone
        report = evaluate(
            emg,
            data,
            split,
            dev,
            syncnet,
            emotion_features,
            temperature,
            seed,
            limit or None,
            swaps,
            predictions or [],
            report=folder,
        )
        report["work"] = work
        atomic_write_json(folder / "report.json", report)
        atomic_write_bytes(folder / "report.md", markdown(report).encode())
        atomic_write_bytes(folder / "report.tex", latex(report).encode())
        if examples:
            from ..eval.examples import render_examples

            report["examples"] = render_examples(
                emg[0], data, split, report, folder, examples, dev, temperature, seed
            )
            atomic_write_json(folder / "report.json", report)
        forget(folder)
    emit(json_out, report, *rich_tables(report))  # report.json's content; '-': on stdout, no tables
    console.print(caveats(report), highlight=False)
    console.print(f"report: {folder / 'report.json'}, {folder / 'report.md'}, {folder / 'report.tex'}")


def default_report(model: str, work: dict) -> Path:
    """The report folder when --out is not given: ./eval-<model>, or the first of eval-<model>-2,
    -3, ... past those holding the report of another evaluation (another split, store or setting:
    the test split's report is not replaced by the validation split's), and past those another
    evaluation is writing now. A folder without a report (a stopped run's, which goes on there) or
    with this evaluation's own is taken."""
    base = f"eval-{model.replace('/', '-')}"
    n = 1
    while True:
        folder = Path(base if n == 1 else f"{base}-{n}")
        report = folder / "report.json"
        if not held(folder) and (not report.is_file() or _work_of(report) == work):
            if n > 1:
                console.print(
                    f"note: {base} holds another evaluation's report or run; this one goes to {folder}"
                )
            return folder
        n += 1


def _work_of(report: Path) -> dict | None:
    """The `work` a report.json records (None: unreadable, or written before reports kept it)."""
    try:
        return json.loads(report.read_text()).get("work")
    except (OSError, ValueError, AttributeError):
        return None


def write_speech(
    stores: list[Path], split: str, limit: int | None, folder: Path, json_out: Path | None
) -> None:
    """The speech of the clips `eval` scores, as `folder/<clip id>.wav` (16 kHz), each written whole;
    what was written also to --json."""
    import io

    import soundfile as sf

    from ..eval.run import scored_clips
    from ..face.load import load_face_model
    from ..ui import progress

    clips = scored_clips(stores, split, limit)
    check_can_create(folder, folder=True)
    names = tuple(f"{c.id}.wav" for c in clips)
    refuse_foreign(folder, (*names, TEMPLATE), "the scored clips' speech", "--export-speech")
    with progress() as bar:
        job = bar.add_task("speech", total=len(clips), unit="clip")
        for clip, name in zip(clips, names):
            buf = io.BytesIO()
            sf.write(buf, clip.audio, 16000, format="WAV", subtype="FLOAT")  # exact; speech may peak over 1
            atomic_write_bytes(folder / name, buf.getvalue())
            bar.advance(job)
    template: str | None = str(folder / TEMPLATE)
    try:  # a FLAME store's template needs the FLAME files; the speech serves without them
        write_template(load_face_model(clips[0].face_model or "ict"), folder / TEMPLATE)
    except TalkfaceError as e:
        console.print(f"no {TEMPLATE} for vertex methods: {e}", highlight=False)
        template = None
    emit(json_out, {"split": split, "speech": [str(folder / n) for n in names], "template": template})
    console.print(
        f"speech of {len(clips)} {split} clips: {folder}/<clip id>.wav (16 kHz). Save the other method's "
        "outputs for them as <clip id>.npz, .npy (ARKit-52, EmoTalk) or .csv in one folder, or a vertex "
        f"method's animation of {folder}/{TEMPLATE} as <clip id>.npy (T, V, 3), then: "
        "talkface eval --emg EMG --data ... --predictions FOLDER",
        highlight=False,
    )


def write_template(face: FaceModel, path: Path) -> None:
    """The face model's template at rest (the metrics' vertex space) as a PLY, for a vertex method
    to animate, with the face model's licence."""
    import torch

    from ..face.obj import write_ply

    rest = face.expression_vertices(torch.zeros(1, face.dim), None)[0].numpy()
    with atomic_file(path) as tmp:
        write_ply(tmp, rest, face.faces.numpy(), header=face.licence)
