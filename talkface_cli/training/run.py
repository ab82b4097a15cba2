"""Train a stage and publish its model: the one path every `train-*` command takes."""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from ..config import to_dict
from ..data.provenance import TRAINED, provenance
from ..errors import TalkfaceError, Terminated
from ..lock import working_in
from ..registry import Entry, EntryRef, Registry
from .loop import FitResult, Task, fit, latest_checkpoint


def default_run_dir(registry: Registry, ref: EntryRef) -> Path:
    return registry.home / "runs" / ref.kind / ref.name


def stopped(ref: EntryRef, run_dir: Path, by_ctrl_c: bool) -> TalkfaceError:
    """What a training run stopped by Ctrl-C (exit 130) or SIGTERM (143) says: where it can go on."""
    ckpt = latest_checkpoint(run_dir)
    then = (
        f"the checkpoint of step {int(ckpt.name[5:])} in {run_dir} is kept: the same command with --resume "
        "goes on from there"
        if ckpt is not None
        else "no checkpoint yet: the same command starts it again"
    )
    how = "interrupted" if by_ctrl_c else "terminated"
    return TalkfaceError(f"{ref}: training {how}; {then}", exit_code=130 if by_ctrl_c else 143)


def check_name_free(registry: Registry, ref: EntryRef) -> None:
    """A training run's registry name must be free: the run would be lost at its end."""
    if registry.path(ref).exists():
        raise TalkfaceError(f"{ref}: already in the registry at {registry.path(ref)} (choose another --name)")


def train_and_publish(
    task: Task,
    cfg: Any,
    name: str,
    *,
    run_dir: Path | None = None,
    resume: bool = False,
    device: str | None = None,
    meta: dict | None = None,
    overwrite: bool = False,
    registry: Registry | None = None,
    data: list[Path] | None = None,
    finalize=None,  # noqa: ANN001 - (model) -> (config dict, extra meta, extra files), rank 0, before saving
) -> tuple[FitResult, Entry | None]:
    """Fit `task` with `cfg.train` and, on rank 0, save the model as registry entry `name`.

    `meta` adds to the entry's meta data (parent entries, extra metrics). `data`: the stores that
    the task's `train` clips come from, recorded with the model (`data.provenance`).
    Returns the fit result and the entry (None on ranks other than 0).
    """
    registry = registry or Registry()
    ref = EntryRef.parse(name)
    if not overwrite:
        check_name_free(registry, ref)
    run_dir = Path(run_dir) if run_dir else default_run_dir(registry, ref)
    run_config = to_dict(cfg)
    extra, files = provenance(data, task.train) if data is not None else ({}, {})
    # torchrun's first process holds the run's folder (the others write into it under its lead)
    first = os.environ.get("RANK", "0") == "0"
    with working_in(run_dir, f"training of {ref}") if first else nullcontext():
        try:
            result = fit(
                task,
                cfg.train,
                run_dir,
                run_config,
                resume=resume,
                device=device,
                label=str(ref),
                clips_record=files.get(TRAINED),
            )
        except (KeyboardInterrupt, Terminated) as e:
            raise stopped(ref, run_dir, isinstance(e, KeyboardInterrupt)) from None
        if not result.main:
            return result, None
        extra |= meta or {}
        if finalize is not None:  # e.g. the EDE's centroids and held-out report
            run_config, more, made = finalize(result.model)
            files |= made
            extra.setdefault("metrics", {}).update(more.pop("metrics", {}))
            extra.update(more)
        metrics = {**result.val, **extra.pop("metrics", {})}
        entry = registry.save(
            ref,
            result.model.state_dict(),
            config=run_config,
            meta={"step": result.step, "metrics": metrics, "run_dir": str(run_dir), **extra},
            overwrite=overwrite,
            extra_files=files,
        )
    return result, entry
