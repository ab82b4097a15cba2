"""A tiny trained chain for the stage tests: a 3-speaker synthetic store, then EDE, sync expert and
EMG trained for a few steps with the smallest sizes (fast on CPU, not accurate)."""

from __future__ import annotations

from pathlib import Path

EDE_FAST = [
    "train.steps=30",
    "train.batch_size=16",
    "model.image_size=32",
    "model.video_widths=[8, 16, 32, 64]",
    "model.width=32",
    "model.ffn=64",
    "window=24",
    "video_per_batch=8",
]
SYNC_FAST = [
    "train.steps=60",
    "train.batch_size=32",
    "model.hidden=32",
    "model.width=32",
    "train.val_every=0",
]
EMG_FAST = [
    "train.steps=40",
    "train.log_every=1",
    "train.batch_size=8",
    "window=24",
    "model.hidden=32",
    "model.layers=3",
    "model.flows=2",
]


def synth_store(out: Path, speakers: int = 3) -> Path:
    from data_recipes.base import PrepOptions, run_recipe
    from data_recipes.synthetic import Synthetic

    run_recipe(
        Synthetic(), None, out, PrepOptions(split_by="speaker", extra={"speakers": speakers, "sentences": 1})
    )
    return out


def train_chain(store: Path) -> dict:
    """Train ede/t, sync/t and emg/t into $TALKFACE_HOME; returns their held-out metrics."""
    from talkface_cli import presets  # noqa: F401
    from talkface_cli.config import make_config
    from talkface_cli.training.ede import train_ede
    from talkface_cli.training.emg import train_emg
    from talkface_cli.training.sync import train_sync

    out = {"ede": train_ede(make_config("ede", "tiny", EDE_FAST), [store], "ede/t", device="cpu")[0]}
    out["sync"] = train_sync(make_config("sync", "tiny", SYNC_FAST), [store], "sync/t", device="cpu")[0]
    out["emg"] = train_emg(
        make_config("emg", "tiny", EMG_FAST), [store], "emg/t", "ede/t", "sync/t", device="cpu"
    )[0]
    return out
