"""Configs: presets, typed overrides, round-trips, clear refusals."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from talkface_cli.config import (
    TrainConfig,
    apply_overrides,
    from_dict,
    make_config,
    opt,
    register_preset,
    to_dict,
)
from talkface_cli.errors import TalkfaceError


@dataclass
class _Model:
    width: int = opt(8, "channels")
    kernel: tuple = opt((3, 3), "kernel size")
    name: str | None = opt(None, "optional name")


@dataclass
class _Stage:
    model: _Model = field(default_factory=_Model)
    train: TrainConfig = field(default_factory=TrainConfig)


register_preset("_test", "tiny", "for tests")(lambda: _Stage(train=TrainConfig(steps=5)))


def test_preset_with_overrides():
    cfg = make_config(
        "_test", "tiny", ["train.lr=1e-3", "model.width=32", "model.kernel=[5, 7]", "model.name=x"]
    )
    assert cfg.train.steps == 5 and cfg.train.lr == 1e-3 and cfg.model.width == 32
    assert cfg.model.kernel == (5, 7) and cfg.model.name == "x"
    assert from_dict(_Stage, to_dict(cfg)) == cfg


@pytest.mark.parametrize("bad", ["train.lr", "train.nope=1", "model.width=abc", "nope.x=1"])
def test_bad_overrides_are_refused(bad):
    with pytest.raises(TalkfaceError):
        apply_overrides(_Stage(), [bad])


@pytest.mark.parametrize(
    "bad, said",
    [
        ("train.batch_size=0", "must be at least 1"),  # was torch.cat's "expected a non-empty list"
        ("train.steps=-5", "must be at least 1"),  # was: an untrained model published
        ("train.lr=-1", "must be more than 0"),  # was Adam's ValueError traceback
        ("train.lr=nan", "not a finite number"),
        ("train.weight_decay=-0.1", "must be at least 0"),
        ("train.schedule=linear", "use one of constant, cosine"),
        ("train.seed=-1", "must be at least 0"),
        ("train.seed=4294967296", "must be at most 4294967295"),  # a 20-digit seed was torch's traceback
        ("model.width=0", "must be at least 1"),
    ],
)
def test_settings_out_of_their_range_are_refused_in_one_line(bad, said):
    with pytest.raises(TalkfaceError, match=f"^--set {bad}: {said}$"):
        apply_overrides(_Stage(), [bad])


@pytest.mark.parametrize(
    "stage, bad, said",
    [
        ("ede", ["model.heads=5"], "model.heads=5: must divide model.width"),  # was a ValueError traceback
        ("ede", ["model.front_pool=5"], "model.front_pool=5: at most model.front_layers"),  # an IndexError
        (
            "sync",
            ["train.batch_size=1"],
            "train.batch_size=1: at least 2 per process",
        ),  # BatchNorm's ValueError
        ("sync", ["min_shift=9", "max_shift=4"], "min_shift=9: at most max_shift"),
        ("emg", ["window=50"], "window=50: must be a multiple of model.stride"),
    ],
)
def test_settings_that_do_not_hold_together_are_refused_before_training(stage, bad, said):
    import talkface_cli.presets  # noqa: F401 - registers the presets

    with pytest.raises(TalkfaceError, match=f"^--set {said}"):
        make_config(stage, "tiny", bad)


def test_the_sync_experts_batch_holds_two_clips_per_torchrun_process(monkeypatch):
    import talkface_cli.presets  # noqa: F401 - registers the presets

    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun sets it: a batch of 2 is 1 per process
    with pytest.raises(TalkfaceError, match="train.batch_size=2: at least 2 per process .* .4 over 2."):
        make_config("sync", "tiny", ["train.batch_size=2"])
    assert make_config("sync", "tiny", ["train.batch_size=4"]).train.batch_size == 4


@pytest.mark.parametrize("stage", ["ede", "sync", "emg"])
def test_every_preset_setting_is_within_its_limits(stage):
    """The limits hold the presets' own values (a limit too tight would refuse a paper setting)."""
    import talkface_cli.presets  # noqa: F401 - registers the presets
    from talkface_cli.config import PRESETS, describe

    for preset in PRESETS[stage]:
        cfg = make_config(stage, preset)
        for key, value, _ in describe(cfg):
            if isinstance(value, (int, float, str)) and not key.endswith(("content", "face_model")):
                assert apply_overrides(cfg, [f"{key}={value}"]) == cfg, (preset, key)
    assert apply_overrides(cfg, ["train.warmup_steps=0", "train.val_every=0", "train.grad_clip=0"])


def test_unknown_preset_is_refused():
    with pytest.raises(TalkfaceError, match="unknown preset"):
        make_config("_test", "huge")
