"""Progress inside prep's jobs (a long video's frames as they are tracked), drawn as a second bar
under the clips' bar: a video of an hour is one clip, and its bar stood at 0/1 for minutes.

A job calls `report(total, done)`; in a pool's worker it goes through a queue that the drawing
process drains (`drain`), in the drawing process straight to the bar (`InnerBar`)."""

from __future__ import annotations

import queue as queues
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import Progress, TaskID

Report = Callable[[tuple[int, int]], None]  # (total, done)
_REPORT: Report | None = None  # where this process's jobs report


def report(total: int = 0, done: int = 0) -> None:
    """`total` units of work added to the inner bar (negative: work that will not be done), `done`
    finished; nothing where no bar is drawn."""
    if _REPORT is not None:
        _REPORT((total, done))


def send_to(channel) -> None:  # noqa: ANN001 - a multiprocessing queue; a pool worker's initializer
    """Reports of this (worker) process go to `channel`."""
    global _REPORT
    _REPORT = channel.put_nowait  # put((total, done)) on a queue without a bound never waits


@contextmanager
def reporting_to(to: Report) -> Iterator[None]:
    """Reports of this process go to `to` inside the block."""
    global _REPORT
    before, _REPORT = _REPORT, to
    try:
        yield
    finally:
        _REPORT = before


def drain(channel, to: Report) -> None:  # noqa: ANN001 - a multiprocessing queue
    """Every report waiting in `channel`, passed to `to`."""
    while True:
        try:
            to(channel.get_nowait())
        except queues.Empty:
            return


class InnerBar:
    """A task of `bar` made at the first report with work in it, advanced by the reports."""

    def __init__(self, bar: Progress, description: str, unit: str):
        self.bar, self.description, self.unit = bar, description, unit
        self.task: TaskID | None = None
        self.total = 0

    def __call__(self, work: tuple[int, int]) -> None:
        total, done = work
        self.total += total
        if self.task is None and self.total > 0:
            self.task = self.bar.add_task(self.description, total=0, unit=self.unit)
        if self.task is not None:
            self.bar.update(self.task, total=self.total, advance=done)
