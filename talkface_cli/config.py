"""Typed dataclass configs, named presets and command-line overrides.

Every field carries its help text in `metadata["help"]`. A stage config nests a model config and a
`TrainConfig`; presets are named factories with a one-line description, registered in one place
(`PRESETS`) by the stage modules. Overrides use dotted paths: `--set train.lr=1e-4`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import TalkfaceError

SEED_MAX = 2**32 - 1  # seeds numpy and torch both take (numpy refuses negative ones, torch past 2**64)


def opt(default: Any, help: str, **limits: Any) -> Any:  # noqa: A002 - mirrors argparse's vocabulary
    """A dataclass field with a default, its help text and the limits `--set` holds it to: `low` /
    `high` (inclusive), `above` / `below` (exclusive), `choices`. A number without limits must be
    at least 1 if whole (a count or a size) and 0 if not (a weight or a rate)."""
    meta = {"help": help, **limits}
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    steps: int = opt(1000, "optimiser steps in total")
    batch_size: int = opt(8, "effective (global) batch: split evenly over torchrun processes")
    lr: float = opt(5e-5, "Adam learning rate (paper: 5e-5 for EDE and EMG)", above=0)
    weight_decay: float = opt(0.0, "decoupled weight decay (AdamW when > 0)")
    warmup_steps: int = opt(0, "linear learning-rate warm-up steps", low=0)
    schedule: str = opt(
        "constant", "learning-rate schedule after warm-up: constant or cosine", choices=("constant", "cosine")
    )
    grad_clip: float = opt(0.0, "clip the gradient norm to this value (0: off)")
    seed: int = opt(0, "seed for weights, batches and sampling", low=0, high=SEED_MAX)
    log_every: int = opt(10, "steps between rows of metrics.jsonl")
    val_every: int = opt(200, "steps between validations (0: only at the end)", low=0)
    ckpt_every: int = opt(200, "steps between checkpoints in the run folder")
    keep_ckpts: int = opt(2, "checkpoints kept in the run folder (older ones are pruned)")


@dataclass(frozen=True)
class Preset:
    description: str
    factory: Callable[[], Any]


# stage -> preset name -> Preset. Stage modules add theirs with `register_preset`.
PRESETS: dict[str, dict[str, Preset]] = {}


def register_preset(stage: str, name: str, description: str) -> Callable:
    def deco(factory: Callable[[], Any]) -> Callable[[], Any]:
        PRESETS.setdefault(stage, {})[name] = Preset(description, factory)
        return factory

    return deco


def make_config(stage: str, preset: str, overrides: list[str] | None = None) -> Any:
    """The named preset of a stage with `key.path=value` overrides applied, checked."""
    presets = PRESETS.get(stage, {})
    if preset not in presets:
        known = ", ".join(sorted(presets)) or "none"
        raise TalkfaceError(f"unknown preset {preset!r} for {stage} (known: {known})")
    cfg = apply_overrides(presets[preset].factory(), overrides or [])
    if hasattr(cfg, "check"):  # a stage config: settings that hold together
        cfg.check()
    return cfg


def apply_overrides(cfg: Any, overrides: list[str]) -> Any:
    """Return a copy of `cfg` with each `a.b.c=value` set, the value parsed by the field's type."""
    cfg = from_dict(type(cfg), to_dict(cfg))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise TalkfaceError(f"--set {item!r}: expected KEY=VALUE, e.g. train.lr=1e-4")
        *parents, leaf = key.strip().split(".")
        target = cfg
        for p in parents:
            target = _get_field(target, p, key)
        f = {f.name: f for f in dataclasses.fields(target)}.get(leaf)
        if f is None:
            raise TalkfaceError(f"--set {key}: no such setting (known: {', '.join(field_names(target))})")
        hint = typing.get_type_hints(type(target))[leaf]
        value = _parse(raw.strip(), hint, key)
        if (why := out_of_limits(value, f.metadata)) is not None:
            raise TalkfaceError(f"--set {key}={raw.strip()}: {why}")
        setattr(target, leaf, value)
    return cfg


def out_of_limits(value: Any, meta: typing.Mapping) -> str | None:
    """Why `value` breaks the limits of its field (see `opt`), or None."""
    if "choices" in meta:
        return None if value in meta["choices"] else f"use one of {', '.join(map(str, meta['choices']))}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value):
        return "not a finite number"
    above, below, high = meta.get("above"), meta.get("below"), meta.get("high")
    low = meta.get("low", None if above is not None else 1 if isinstance(value, int) else 0)
    if above is not None and value <= above:
        return f"must be more than {above}"
    if low is not None and value < low:
        return f"must be at least {low}"
    if below is not None and value >= below:
        return f"must be less than {below}"
    if high is not None and value > high:
        return f"must be at most {high}"
    return None


def _get_field(obj: Any, name: str, key: str) -> Any:
    if not dataclasses.is_dataclass(obj) or name not in field_names(obj):
        raise TalkfaceError(f"--set {key}: no such setting group {name!r}")
    return getattr(obj, name)


def field_names(obj: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(obj)]


def _parse(raw: str, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if raw.lower() in ("none", "null"):
            return None
        hint = args[0]
        origin = typing.get_origin(hint)
    try:
        if hint is bool:
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1", "yes")
        if hint in (int, float, str):
            return hint(raw)
        if origin in (list, tuple) or hint in (list, tuple):
            return (origin or hint)(json.loads(raw))
    except (ValueError, json.JSONDecodeError):
        raise TalkfaceError(f"--set {key}={raw}: not a valid {getattr(hint, '__name__', hint)}") from None
    raise TalkfaceError(f"--set {key}: this setting cannot be set from the command line")


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(cls: type, data: dict) -> Any:
    """Build dataclass `cls` from a (possibly nested) dict; unknown keys are refused."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise TalkfaceError(f"config for {cls.__name__} has unknown keys: {', '.join(sorted(unknown))}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value)
        elif tuple in (hint, typing.get_origin(hint)) and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def describe(cfg: Any, prefix: str = "") -> list[tuple[str, Any, str]]:
    """Flatten a config into (dotted key, value, help) rows, for --help tables and run logs."""
    rows = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            rows += describe(value, f"{prefix}{f.name}.")
        else:
            rows.append((f"{prefix}{f.name}", value, f.metadata.get("help", "")))
    return rows
