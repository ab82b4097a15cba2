"""`talkface train-*`: each builds its stage config from a preset + overrides and calls one
library function that runs the shared training loop and publishes to the registry."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import typer

from .. import presets  # noqa: F401 - registers the presets
from ..config import PRESETS, describe, make_config
from ..fsutil import check_can_create
from ..ui import console, emit, json_target, table
from .common import (
    DeviceOpt,
    FlameModelOpt,
    HubertAtOpt,
    JsonOpt,
    PresetOpt,
    ResumeOpt,
    RunDirOpt,
    SetOpt,
    use_assets,
)


def _add_presets(command: Callable, stage: str) -> None:
    """Append the stage's presets to the command's help (dedented first: Python 3.11 keeps a
    docstring's indentation, which --help then showed on every line after the first)."""
    listed = "; ".join(f"{k}: {p.description}" for k, p in PRESETS.get(stage, {}).items())
    command.__doc__ = inspect.cleandoc(command.__doc__ or "") + "\n\nPresets: " + listed


ShowConfigOpt = typer.Option(False, "--show-config", help="print the resolved config and exit")
FaceDataOpt = typer.Option(..., "--data", help="clip store(s) with face parameters; repeat for several")


def _config(stage: str, preset: str, overrides: list[str], show: bool):  # noqa: ANN202 - a stage config
    """The stage's config from a preset + overrides; with --show-config printed instead (None)."""
    cfg = make_config(stage, preset, overrides)
    if show:
        console.print(table(f"{stage} preset {preset}", ["setting", "value", "help"], describe(cfg)))
        return None
    return cfg


def _check_outputs(name: str, run_dir: Path | None, json_out: Path | None) -> None:
    """The registry entry (a name not taken), the run folder and --json, checked before the data
    is read: no run is lost to a folder that cannot be written or a name already used."""
    from ..registry import EntryRef, Registry
    from ..training.loop import check_run_dir
    from ..training.run import check_name_free, default_run_dir

    reg, ref = Registry(), EntryRef.parse(name)
    check_name_free(reg, ref)
    run_dir = run_dir or default_run_dir(reg, ref)
    for folder in (reg.path(ref), run_dir):
        check_can_create(folder, folder=True)
    check_run_dir(run_dir)
    json_target(json_out)


def _report(title: str, metrics: dict, json_out: Path | None) -> None:
    rows = [[k, v] for k, v in metrics.items() if not isinstance(v, (dict, list))]
    emit(json_out, metrics, table(title, ["metric", "value"], rows))
    if metrics.get("held_out_clips") == 0:
        console.print(
            "[yellow]note:[/] the store has no held-out clips (val or test split) this stage can use, "
            "so nothing was scored; give it some with `talkface prep ... --val-speakers S` or "
            "`--split-by speaker` (train-sync and train-emg need speakers with tracked video there)",
            highlight=False,
        )


def train_ede(
    data: list[Path] = typer.Option(..., "--data", help="clip store(s); repeat for several"),
    name: str = typer.Option(..., "--name", help="registry name, e.g. ede/ravdess"),
    preset: str = PresetOpt,
    overrides: list[str] = SetOpt,
    run_dir: Path = RunDirOpt,
    resume: bool = ResumeOpt,
    device: str = DeviceOpt,
    flame_model: Path = FlameModelOpt,
    hubert: str = typer.Option(
        None,
        "--hubert",
        help="start the audio branch from this local pretrained HuBERT (its architecture and weights; "
        "waveform front: --preset paper)",
    ),
    no_contrastive: bool = typer.Option(False, "--no-contrastive", help="ablation: drop the SupCon loss"),
    no_av: bool = typer.Option(False, "--no-av", help="ablation: drop the audio-visual loss"),
    no_triplet: bool = typer.Option(False, "--no-triplet", help="ablation: drop the intensity triplet loss"),
    show_config: bool = ShowConfigOpt,
    json_out: Path = JsonOpt,
) -> None:
    """Train the emotional disentanglement encoder (audio + video branches, one emotion space).

    Example: talkface train-ede --data data/synth --preset tiny --name ede/synth

    From a pretrained HuBERT, as the paper: talkface train-ede --data data/ravdess --preset paper
    --hubert ~/models/hubert-large-ls960-ft --name ede/ravdess
    """
    use_assets(flame_model)
    from ..training.ede import train_ede as run

    drops = [
        f"{k}=0"
        for k, off in (("w_contrastive", no_contrastive), ("w_av", no_av), ("w_triplet", no_triplet))
        if off
    ]
    cfg = _config("ede", preset, [*drops, *(overrides or [])], show_config)
    if cfg is None:
        return
    _check_outputs(name, run_dir, json_out)
    metrics, entry = run(cfg, data, name, run_dir, resume, device, hubert)
    if entry is not None:
        _report(f"{name}: held-out emotion space ({entry.path})", metrics, json_out)


_add_presets(train_ede, "ede")


def train_sync(
    data: list[Path] = FaceDataOpt,
    name: str = typer.Option(..., "--name", help="registry name, e.g. sync/synth"),
    preset: str = PresetOpt,
    hubert: str = typer.Option(
        None, "--hubert", help="local HuBERT folder for the content features (default: 80 log-mel bands)"
    ),
    layer: int = typer.Option(
        -1, "--layer", help="HuBERT hidden layer for the content features (-1: the last), as in prep features"
    ),
    overrides: list[str] = SetOpt,
    run_dir: Path = RunDirOpt,
    resume: bool = ResumeOpt,
    device: str = DeviceOpt,
    flame_model: Path = FlameModelOpt,
    show_config: bool = ShowConfigOpt,
    json_out: Path = JsonOpt,
) -> None:
    """Train the lip-sync expert (content features vs lip landmarks, cosine + BCE).

    Saved with the model: held-out in-sync / off-sync accuracy, and for held-out clips with their
    audio delayed by 3-8 frames how often the best offset found is the true one.

    Example: talkface train-sync --data data/synth --preset tiny --name sync/synth

    With HuBERT features: talkface train-sync --data data/ravdess --hubert ~/models/hubert-large-ls960-ft
    --layer 9 --name sync/ravdess (features cached by `prep features` with the same --layer are read)
    """
    use_assets(flame_model)
    from ..training.sync import train_sync as run

    cfg = _config("sync", preset, [f"model.content_layer={layer}", *(overrides or [])], show_config)
    if cfg is None:
        return
    _check_outputs(name, run_dir, json_out)
    metrics, entry = run(cfg, data, name, hubert, run_dir, resume, device)
    if entry is not None:
        _report(f"{name}: held-out sync accuracy ({entry.path})", metrics, json_out)


_add_presets(train_sync, "sync")


def train_emg(
    data: list[Path] = FaceDataOpt,
    ede: str = typer.Option(..., "--ede", help="trained EDE (registry name, e.g. ede/synth)"),
    sync: str = typer.Option(..., "--sync", help="trained sync expert (registry name, e.g. sync/synth)"),
    name: str = typer.Option(..., "--name", help="registry name, e.g. emg/synth"),
    preset: str = PresetOpt,
    overrides: list[str] = SetOpt,
    run_dir: Path = RunDirOpt,
    resume: bool = ResumeOpt,
    device: str = DeviceOpt,
    flame_model: Path = FlameModelOpt,
    hubert_at: Path = HubertAtOpt,
    no_sync: bool = typer.Option(
        False, "--no-sync", help="ablation: a vertex L2 loss in place of the sync loss"
    ),
    no_emotion: bool = typer.Option(False, "--no-emotion", help="ablation: drop the emotion loss"),
    no_speaker: bool = typer.Option(False, "--no-speaker", help="ablation: no speaker conditioning"),
    show_config: bool = ShowConfigOpt,
    json_out: Path = JsonOpt,
) -> None:
    """Train the emotional motion generator (VAE with a flow prior, speaker-aware decoder).

    The EDE gives the emotion conditions and the emotion loss, the sync expert the sync loss and
    the content encoder; both stay frozen. Saved with the model: held-out LVE against the
    mean-face baseline.

    Example: talkface train-emg --data data/synth --ede ede/synth --sync sync/synth --name emg/synth
    """
    use_assets(flame_model, hubert_at)
    from ..training.emg import train_emg as run

    drops = [k for k, off in (("w_sync=0", no_sync), ("w_mesh=1", no_sync), ("w_emotion=0", no_emotion),
                              ("model.speaker_conditioning=false", no_speaker)) if off]  # fmt: skip
    cfg = _config("emg", preset, [*drops, *(overrides or [])], show_config)
    if cfg is None:
        return
    _check_outputs(name, run_dir, json_out)
    metrics, entry = run(cfg, data, name, ede, sync, run_dir, resume, device)
    if entry is not None:
        _report(f"{name}: held-out lip error ({entry.path})", metrics, json_out)


_add_presets(train_emg, "emg")
