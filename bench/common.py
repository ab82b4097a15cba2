"""Shared bits of the benchmarks: timing and reporting."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from talkface_cli.ui import report

RESULTS = Path(__file__).parent / "results"
os.environ.setdefault("TALKFACE_NO_PROGRESS", "1")


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Best wall time of `repeat` runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def mean_over(fn: Callable[[], object], seconds: float) -> float:
    """Mean wall time per call of back-to-back calls of `fn` over a window of `seconds` (at least
    one call), in seconds."""
    calls, start = 0, time.perf_counter()
    while not calls or time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return (time.perf_counter() - start) / calls


def publish(name: str, title: str, rows: list[dict]) -> None:
    RESULTS.mkdir(exist_ok=True)
    report(title, list(rows[0]), [list(r.values()) for r in rows], RESULTS / f"{name}.json")
