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


def test_unknown_preset_is_refused():
    with pytest.raises(TalkfaceError, match="unknown preset"):
        make_config("_test", "huge")
