"""The training loop every `train-*` command uses.

A stage supplies a `Task` (model factory, batches by index, loss, validation); the loop owns
seeding, batching, the optimiser and schedule, DistributedDataParallel, the progress bar, the
metrics log, checkpoints and resume. Batches are a pure function of (seed, step), so a resumed or
multi-process run sees exactly the samples an uninterrupted single-process run sees.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from safetensors.torch import load_file
from torch.nn.parallel import DistributedDataParallel

from ..config import TrainConfig
from ..data.provenance import TRAINED
from ..errors import TalkfaceError
from ..fsutil import atomic_write_bytes, atomic_write_json, json_text, refuse_foreign, save_tensors, utf8_path
from ..ui import progress
from . import distributed as dist_util
from .state_io import load_state, save_state

_CKPT = re.compile(r"^step-(\d{8})$")


class Task(Protocol):
    """What a stage provides to the loop."""

    def build_model(self) -> torch.nn.Module: ...

    def train_size(self) -> int:
        """Number of training samples (indices 0..n-1)."""

    def batch(self, indices: torch.Tensor, device: torch.device) -> Any:
        """The batch for these sample indices, on `device`."""

    def loss(self, model: torch.nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar loss (mean over the batch) and named parts to log."""

    def validate(self, model: torch.nn.Module, device: torch.device) -> dict[str, float]:
        """Held-out metrics of the (unwrapped) model; called on rank 0 only."""


@dataclass
class FitResult:
    model: torch.nn.Module
    step: int
    val: dict[str, float] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)  # per step, of this process's run
    main: bool = True  # rank 0 (the process that logs, checkpoints and publishes)


def batch_indices(seed: int, step: int, batch: int, n: int) -> torch.Tensor:
    """Indices of the global batch at `step`: consecutive slices of per-epoch permutations."""
    out, pos, end = [], step * batch, (step + 1) * batch
    while pos < end:
        epoch, offset = divmod(pos, n)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        out.append(perm[offset : offset + end - pos])
        pos += len(out[-1])
    return torch.cat(out)


def lr_factor(cfg: TrainConfig, step: int) -> float:
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "cosine":
        span = max(1, cfg.steps - cfg.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - cfg.warmup_steps) / span)))
    if cfg.schedule != "constant":
        raise TalkfaceError(f"train.schedule={cfg.schedule!r}: use constant or cosine")
    return 1.0


def fit(
    task: Task,
    cfg: TrainConfig,
    run_dir: Path,
    run_config: dict,
    resume: bool = False,
    device: str | None = None,
    label: str = "train",
    clips_record: bytes | None = None,
) -> FitResult:
    """Train `task` for `cfg.steps` steps in `run_dir`; resume from its latest checkpoint if asked.
    `clips_record`: the task's training clips (`data.provenance`), kept in the run so a resume
    is refused when they changed."""
    info = dist_util.setup(device)
    run_dir = Path(run_dir)
    if cfg.batch_size % info.world:
        raise TalkfaceError(f"train.batch_size={cfg.batch_size} does not split over {info.world} processes")
    n = task.train_size()
    if n <= 0:
        raise TalkfaceError("the training set is empty")
    _prepare_run_dir(run_dir, run_config, resume, info, clips_record)

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    model = task.build_model().to(info.device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt_cls = torch.optim.AdamW if cfg.weight_decay > 0 else torch.optim.Adam
    optim = opt_cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: lr_factor(cfg, s))

    start = 0
    log = run_dir / "metrics.jsonl"
    if resume and (ckpt := latest_checkpoint(run_dir)) is not None:
        start = _load_checkpoint(ckpt, model, optim, sched, info)
    else:
        torch.manual_seed(cfg.seed + 1 + info.rank)  # dropout etc. differ per rank, fixed per seed
        if info.main:
            log.unlink(missing_ok=True)  # the rows of an attempt stopped before its first checkpoint
    wrapped = model
    if info.world > 1:
        wrapped = DistributedDataParallel(
            model, device_ids=[info.device.index] if info.device.type == "cuda" else None
        )
    local = cfg.batch_size // info.world
    losses: list[float] = []
    val: dict[str, float] = {}
    t_last = time.perf_counter()

    with progress(extra="loss {task.fields[loss]}", disable=not info.main) as bar:
        job = bar.add_task(label, total=cfg.steps, completed=start, loss="-", unit="step")
        for step in range(start, cfg.steps):
            model.train()
            idx = batch_indices(cfg.seed, step, cfg.batch_size, n)[
                info.rank * local : (info.rank + 1) * local
            ]
            loss, parts = task.loss(wrapped, task.batch(idx, info.device), step)
            if not torch.isfinite(loss):
                raise TalkfaceError(f"{label}: loss became {loss.item()} at step {step} (lower train.lr?)")
            optim.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optim.step()
            sched.step()
            logged = dist_util.mean_across(
                torch.tensor([loss.item(), *parts.values()], dtype=torch.float64), info
            ).tolist()
            losses.append(logged[0])
            done = step + 1
            if info.main:
                bar.update(job, completed=done, loss=f"{logged[0]:.4g}")
                if done % cfg.log_every == 0 or done == cfg.steps:
                    now = time.perf_counter()
                    row = {"step": done, "split": "train", "loss": logged[0], "lr": sched.get_last_lr()[0]}
                    row |= dict(zip(parts, logged[1:]))
                    row["sec_per_step"] = (now - t_last) / cfg.log_every
                    t_last = now
                    _append(log, row)
            if (cfg.val_every and done % cfg.val_every == 0) or done == cfg.steps:
                if info.main:
                    val = task.validate(model, info.device)
                    _append(log, {"step": done, "split": "val", **val})
                dist_util.barrier(info)
            if done % cfg.ckpt_every == 0 or done == cfg.steps:
                _save_checkpoint(run_dir, done, model, optim, sched, info, cfg.keep_ckpts)
    del wrapped  # DDP holds the process group, which teardown frees
    dist_util.teardown(info)
    return FitResult(model=model, step=cfg.steps, val=val, losses=losses, main=info.main)


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = [p for p in (run_dir / "checkpoints").glob("step-*") if _CKPT.match(p.name) and p.is_dir()]
    return max(found, key=lambda p: int(p.name[5:])) if found else None


RUN_FILES = ("config.json", "metrics.jsonl", "checkpoints", TRAINED)  # all that a run folder holds


def check_run_dir(run_dir: Path) -> None:
    """A run goes into a new or empty folder or a run's own, never among a user's files (`--run-dir .`
    in a project would take its config.json)."""
    refuse_foreign(run_dir, RUN_FILES, "a training run", "--run-dir")
    saved = Path(run_dir) / "config.json"
    try:
        ours = not saved.exists() or "train" in json.loads(saved.read_text())
    except (ValueError, TypeError, OSError):
        ours = False
    if not ours:
        raise TalkfaceError(f"{saved}: not a training run's config; give --run-dir a new or empty folder")


def _prepare_run_dir(
    run_dir: Path, run_config: dict, resume: bool, info: dist_util.DistInfo, clips_record: bytes | None
) -> None:
    check_run_dir(run_dir)
    saved, record = run_dir / "config.json", run_dir / TRAINED
    if saved.exists():
        if not resume and latest_checkpoint(run_dir) is not None:
            raise TalkfaceError(
                f"{run_dir}: holds a run already; pass --resume to continue it or choose another --run-dir"
            )
        if resume:
            before = json.loads(saved.read_text())
            diff = _diff(before, run_config)
            if diff:
                raise TalkfaceError(f"{saved}: the run was started with other settings ({', '.join(diff)})")
            # a store prepared or split again since: the model would have learnt from clips its
            # record does not list (now test clips, say), and its sample order would change
            if clips_record is not None and record.is_file() and record.read_bytes() != clips_record:
                raise TalkfaceError(
                    f"{run_dir}: the training clips are not those the run began with (the store was "
                    "prepared or split again); resume it on the same clips, or give another --run-dir"
                )
    if info.main:
        atomic_write_json(saved, run_config)
        if clips_record is not None:
            atomic_write_bytes(record, clips_record)
    dist_util.barrier(info)


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [f"{prefix[:-1]}: {a!r} -> {b!r}"]


def _append(path: Path, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json_text(row, indent=None, sort_keys=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _save_checkpoint(run_dir, step, model, optim, sched, info, keep) -> None:  # noqa: ANN001
    root = run_dir / "checkpoints"
    staging = root / f".step-{step:08d}.tmp"
    if info.main:
        shutil.rmtree(staging, ignore_errors=True)  # a stale staging folder of a killed run
        staging.mkdir(parents=True)
    dist_util.barrier(info)
    save_state(_rng_state(), staging / f"rng-rank{info.rank}")
    dist_util.barrier(info)
    if info.main:
        save_tensors(
            {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
            staging / "model.safetensors",
        )
        save_state(
            {"optimizer": optim.state_dict(), "scheduler": sched.state_dict(), "step": step},
            staging / "train_state",
        )
        os.replace(staging, root / f"step-{step:08d}")
        ckpts = sorted(p for p in root.glob("step-*") if _CKPT.match(p.name))
        for old in ckpts[: max(0, len(ckpts) - keep)]:
            shutil.rmtree(old)
    dist_util.barrier(info)


def _load_checkpoint(ckpt: Path, model, optim, sched, info) -> int:  # noqa: ANN001
    try:
        with utf8_path(ckpt / "model.safetensors") as name:
            model.load_state_dict(load_file(name, device=str(info.device)))
        state = load_state(ckpt / "train_state")
        optim.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
    except (OSError, KeyError, RuntimeError, ValueError) as e:
        raise TalkfaceError(f"{ckpt}: cannot resume from this checkpoint ({e})") from None
    rng_file = ckpt / f"rng-rank{info.rank}"
    if rng_file.with_suffix(".json").exists():
        rng = load_state(rng_file)
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
    step = int(state["step"])
    _truncate_log(ckpt.parent.parent / "metrics.jsonl", step)
    return step


def _truncate_log(log: Path, step: int) -> None:
    """Drop log rows written after the checkpoint (and a torn last line) before resuming."""
    if not log.exists():
        return
    keep = []
    for line in log.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row.get("step", 0) <= step:
            keep.append(line)
    log.write_text("".join(f"{line}\n" for line in keep))
