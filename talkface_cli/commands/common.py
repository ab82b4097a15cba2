"""Options and helpers shared by the command modules."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TypeVar

import typer

from ..config import SEED_MAX
from ..errors import TalkfaceError
from ..ui import console, error, progress, some

DeviceOpt = typer.Option(
    None, "--device", help="cuda, cuda:1, mps or cpu (default: CUDA, then MPS, then CPU)"
)
JsonOpt = typer.Option(
    None, "--json", help="also write the results as JSON to this file ('-': the JSON alone on stdout)"
)
SetOpt = typer.Option(None, "--set", help="override a config value, e.g. --set train.lr=1e-4 (repeatable)")
PresetOpt = typer.Option("tiny", "--preset", help="named config preset: tiny (tests, CPU demos) or paper")
ResumeOpt = typer.Option(False, "--resume", help="continue the run in --run-dir from its latest checkpoint")
RunDirOpt = typer.Option(None, "--run-dir", help="run folder (default: $TALKFACE_HOME/runs/KIND/NAME)")


def finite_number(value: float | None) -> float | None:
    """A float option's callback: refuses inf (its range lets it through; NaN fails the range)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter("not a finite number")
    return value


def seed_option(help: str) -> typer.models.OptionInfo:  # noqa: A002 - typer's name
    """--seed, in the range every seeded library takes (a 20-digit seed was a traceback)."""
    return typer.Option(0, "--seed", min=0, max=SEED_MAX, help=help)


FlameModelOpt = typer.Option(
    None,
    "--flame-model",
    help="folder with your FLAME files, for FLAME models and stores (or TALKFACE_FLAME)",
)
HubertAtOpt = typer.Option(
    None,
    "--hubert",
    help="where the HuBERT the model was trained with is on this machine (default: the folder its "
    "training used; or TALKFACE_HUBERT)",
)


def use_assets(flame: Path | None, hubert: Path | None = None) -> None:
    """--flame-model and --hubert stand for TALKFACE_FLAME and TALKFACE_HUBERT in this run, so
    every model, store and worker process of it finds the files there."""
    for name, value in (("TALKFACE_FLAME", flame), ("TALKFACE_HUBERT", hubert)):
        if value is not None:
            os.environ[name] = str(Path(value).expanduser())


def files_in_folders(
    paths: list[Path],
    suffixes: Collection[str],
    what: str,
    outputs: Sequence[Path | None] = (),
    ours: Callable[[Path], bool] | None = None,
) -> list[tuple[Path, str | None]]:
    """`paths`, each folder among them replaced by the files under it whose suffix is one of
    `suffixes`: at any depth and sorted, not those a system made (`._x.wav` beside a copied
    file), nor those in a folder of `outputs` within it (an earlier run's renders into `clips/videos`
    are not speech for `animate clips`), nor those `ours` is true of (an earlier `animate clips
    --render clips` put its renders beside the speech), which a note names. Each comes with the
    name of its output, without suffix: a folder's file keeps its place under the folder
    (`day2/a` for clips/day2/a.wav: another day's a.wav is not a-2), a file named is None (its
    own stem). A folder with none is a one-line error."""
    from data_recipes.visible import files_under

    found = []
    for path in paths:
        if not path.is_dir():
            found.append((path, None))
            continue
        root = path.resolve()
        skip = [o.resolve() for o in outputs if o is not None and o.resolve() != root]
        inside = [
            f
            for f in files_under(path)
            if f.suffix.lower() in suffixes and not any(f.resolve().is_relative_to(s) for s in skip)
        ]
        made = [f for f in inside if ours is not None and ours(f)]
        inside = [f for f in inside if f not in made]
        names = some([str(f.relative_to(path)) for f in made])
        if made and not inside:
            raise TalkfaceError(f"{path}: a folder whose {what} talkface made ({names}); give one by name")
        if not inside:
            raise TalkfaceError(
                f"{path}: a folder with no {what} in it (files ending {' '.join(sorted(suffixes))})"
            )
        if made:
            console.print(
                f"[yellow]note:[/] {path}: passed over {len(made)} file(s) talkface made ({names}); "
                "give one by name to take it",
                highlight=False,
            )
        found += [(f, f.relative_to(path).with_suffix("").as_posix()) for f in inside]
    return found


Input = TypeVar("Input")


def each_file(inputs: Sequence[Input], work: Callable[[Input], dict], what: str) -> tuple[list[dict], int]:
    """`work(input)` for every input in turn, under a progress bar when there are several: a user error
    on one is printed as its one line and the rest go on. Returns the summaries and the failures."""
    done, failed = [], 0
    with progress(disable=len(inputs) == 1) as bar:
        task = bar.add_task(what, total=len(inputs), unit="file")
        for item in inputs:
            try:
                done.append(work(item))
            except TalkfaceError as e:
                if len(inputs) == 1:
                    raise
                error(str(e))
                failed += 1
            bar.advance(task)
    return done, failed


def fail_if_any(failed: int, total: int) -> None:
    """After the report of the files that worked: exit non-zero when some did not."""
    if failed == total:
        raise TalkfaceError(f"all {total} inputs failed (each said why above)")
    if failed:
        raise TalkfaceError(f"{failed} of {total} inputs failed (each said why above); the rest are written")
