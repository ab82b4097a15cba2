"""Console output: rich progress bars with rate and ETA, result tables mirrored as JSON."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .fsutil import atomic_write_json, check_can_create, json_text

# Tables printed into a pipe or a log file are not squeezed to rich's default of 80 columns.
if not sys.stdout.isatty():
    os.environ.setdefault("COLUMNS", "160")
console = Console()
err_console = Console(stderr=True, soft_wrap=True)


class RateColumn(TextColumn):
    """Items per second of a task, with its unit (`fields['unit']`, default 'it')."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task):  # noqa: ANN001 - rich's signature
        speed = task.finished_speed or task.speed
        if not speed and task.finished_time:  # done in one step: rich measured no speed
            speed = task.completed / task.finished_time  # its elapsed time when it finished
        unit = task.fields.get("unit", "it")
        return f"{speed:6.1f} {unit}/s" if speed else f"   ?   {unit}/s"


def progress(extra: str = "", disable: bool = False) -> Progress:
    """A progress bar: description, bar, n/N, %, rate, elapsed, ETA and an optional extra field."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ]
    if extra:
        columns.append(TextColumn(extra))
    quiet = disable or os.environ.get("TALKFACE_NO_PROGRESS") == "1" or side_rank() is not None
    return Progress(*columns, console=err_console, disable=quiet, transient=False)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], header: bool = True) -> Table:
    t = Table(title=title, title_justify="left", show_header=header)
    for c in columns:
        t.add_column(c, overflow="fold")  # a long path wraps; cut short, it would not say where a file went
    for r in rows:
        t.add_row(*[fmt(v) for v in r])
    return t


def some(names: Sequence[str], shown: int = 3) -> str:
    """The first `shown` of `names` for a one-line message: "a, b, c, ..."."""
    return ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _to_stdout(json_path: Path | None) -> bool:
    return json_path is not None and str(json_path) == "-"


def json_target(json_path: Path | None) -> None:
    """A command's --json, set up before it prints anything: '-' puts the JSON alone on stdout (for
    `| jq`), with the tables left out and notes sent to stderr; a file is checked for being writable."""
    console.stderr = _to_stdout(json_path)
    if json_path is not None and not console.stderr:
        check_can_create(json_path)


def emit(json_path: Path | None, obj: object, *shown: Table | None) -> None:
    """A command's results: the tables (None: nothing to show), and `obj` as JSON to --json, a file
    written atomically or, for '-', stdout in place of the tables."""
    if _to_stdout(json_path):
        sys.stdout.write(json_text(obj) + "\n")
        sys.stdout.flush()
        return
    for t in shown:
        if t is not None:
            console.print(t)
    if json_path is not None:
        atomic_write_json(json_path, obj)


def report(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], json_path: Path | None) -> None:
    """Print a table (one row: as field / value lines, which a terminal's width does not crop);
    also write it as JSON (a list of row objects) to --json, in place of the table when that is '-'."""
    if len(rows) == 1:
        shown = table(title, ["field", "value"], list(zip(columns, rows[0])), header=False)
    else:
        shown = table(title, columns, rows)
    emit(json_path, [dict(zip(columns, r)) for r in rows], shown)


def report_rows(title: str, rows: Sequence[dict], json_path: Path | None) -> None:
    """`report` of rows given as dicts (one per input of a command); a key a row lacks is left blank."""
    report(title, *cells(rows), json_path)


def cells(rows: Sequence[dict]) -> tuple[list[str], list[list[Any]]]:
    """Dict rows as (columns: every key in first-seen order, one value list per row)."""
    columns = list(dict.fromkeys(c for r in rows for c in r))
    return columns, [[r.get(c) for c in columns] for r in rows]


def side_rank() -> int | None:
    """The rank of a torchrun process that is not the first on its machine, else None. Such a process
    runs the same command on the same inputs as the first one there: its progress bars and its stop
    line would repeat that one's, drawn across each other on one terminal."""
    if os.environ.get("LOCAL_RANK", "0") == "0":
        return None
    return int(os.environ.get("RANK", os.environ["LOCAL_RANK"]))


def error(message: str, stop: bool = False) -> None:
    """One error line on stderr. A torchrun process other than the first on its machine names its
    rank, and leaves a stop (Ctrl-C or SIGTERM reach every process) to the first."""
    side = side_rank()
    if side is not None:
        if stop:
            return
        message = f"rank {side}: {message}"
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    sys.stderr.flush()
