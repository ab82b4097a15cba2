"""`talkface train-*`: each builds its stage config from a preset + overrides and calls one
library function that runs the shared training loop and publishes to the registry."""

from __future__ import annotations

from pathlib import Path

import typer

from .. import presets  # noqa: F401 - registers the presets
from ..config import PRESETS, describe, make_config
from ..fsutil import atomic_write_json
from ..ui import console, table
from .common import DeviceOpt, PresetOpt, ResumeOpt, RunDirOpt, SetOpt


def _preset_help(stage: str) -> str:
    return "; ".join(f"{k}: {p.description}" for k, p in PRESETS.get(stage, {}).items())


def _report(title: str, metrics: dict, json_out: Path | None) -> None:
    rows = [[k, v] for k, v in metrics.items() if not isinstance(v, (dict, list))]
    console.print(table(title, ["metric", "value"], rows))
    if json_out is not None:
        atomic_write_json(json_out, metrics)


def train_ede(
    data: list[Path] = typer.Option(..., "--data", help="clip store(s); repeat for several"),
    name: str = typer.Option(..., "--name", help="registry name, e.g. ede/ravdess"),
    preset: str = PresetOpt,
    overrides: list[str] = SetOpt,
    run_dir: Path = RunDirOpt,
    resume: bool = ResumeOpt,
    device: str = DeviceOpt,
    no_contrastive: bool = typer.Option(False, "--no-contrastive", help="ablation: drop the SupCon loss"),
    no_av: bool = typer.Option(False, "--no-av", help="ablation: drop the audio-visual loss"),
    no_triplet: bool = typer.Option(False, "--no-triplet", help="ablation: drop the intensity triplet loss"),
    show_config: bool = typer.Option(False, "--show-config", help="print the resolved config and exit"),
    json_out: Path = typer.Option(None, "--json", help="also write the held-out metrics as JSON"),
) -> None:
    """Train the emotional disentanglement encoder (audio + video branches, one emotion space).

    Example: talkface train-ede --data data/synth --preset tiny --name ede/synth
    """
    from ..training.ede import train_ede as run

    drops = [
        f"{k}=0"
        for k, off in (("w_contrastive", no_contrastive), ("w_av", no_av), ("w_triplet", no_triplet))
        if off
    ]
    cfg = make_config("ede", preset, [*drops, *(overrides or [])])
    if show_config:
        console.print(table(f"ede preset {preset}", ["setting", "value", "help"], describe(cfg)))
        return
    metrics, entry = run(cfg, data, name, run_dir, resume, device)
    if entry is not None:
        _report(f"{name}: held-out emotion space ({entry.path})", metrics, json_out)


train_ede.__doc__ += "\n\nPresets: " + _preset_help("ede")  # type: ignore[operator]
