"""`talkface eval`: one command for a paper's table."""

from __future__ import annotations

from pathlib import Path

import typer

from ..device import resolve_device
from ..errors import TalkfaceError
from ..fsutil import atomic_write_bytes, atomic_write_json, check_can_create, refuse_foreign
from ..ui import console
from .common import DeviceOpt


def command(
    emg: list[str] = typer.Option(
        ..., "--emg", help="EMG model(s) to score (registry names); repeat to line up ablations"
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
    out: Path = typer.Option(None, "--out", help="report folder (default: ./eval-<model name>)"),
    examples: int = typer.Option(
        0, "--examples", help="render side-by-side MP4s (GT | model | mean face) for N clips"
    ),
    limit: int = typer.Option(0, "--limit", help="score only the first N clips (0: all)"),
    swaps: bool = typer.Option(
        False,
        "--swaps",
        help="also swap each clip's emotion for another clip's and score the swaps, beside the lip "
        "error of the clip's own GT moved by the two emotions' mean-face difference",
    ),
    temperature: float = typer.Option(
        0.5, "--temperature", min=0.0, help="sampling temperature of the models"
    ),
    seed: int = typer.Option(0, "--seed", help="random seed of the models' sampling"),
    device: str = DeviceOpt,
) -> None:
    """Score models against baselines: LVE, EVE, FDD, LSE-D/C, VE-FID, emotion accuracy, speed.

    Writes report.json and report.md (and example MP4s) to --out; prints the same tables.

    Example: talkface eval --emg emg/synth --data data/synth --split test --examples 2
    """
    from ..data.store import SPLITS
    from ..eval.run import evaluate
    from ..eval.tables import markdown, rich_tables

    if split not in SPLITS:
        raise TalkfaceError(f"--split {split}: not one of {', '.join(SPLITS)}")
    folder = check_can_create(out or Path(f"eval-{emg[0].replace('/', '-')}"), folder=True)
    refuse_foreign(folder, ("report.json", "report.md", "examples"), "an evaluation report", "--out")
    dev = resolve_device(device)
    report = evaluate(
        emg, data, split, dev, syncnet, emotion_features, temperature, seed, limit or None, swaps
    )
    atomic_write_json(folder / "report.json", report)
    atomic_write_bytes(folder / "report.md", markdown(report).encode())
    if examples:
        from ..eval.examples import render_examples

        report["examples"] = render_examples(
            emg[0], data, split, report, folder, examples, dev, temperature, seed
        )
        atomic_write_json(folder / "report.json", report)
    for t in rich_tables(report):
        console.print(t)
    console.print(f"report: {folder / 'report.json'}, {folder / 'report.md'}")
