"""Live Link Face's timecodes, and curves sampled on a clock.

The app stamps each row of a take's CSV, and each line of its frame_log.csv, with the phone's
timecode "HH:MM:SS:FF.fff": FF counts frames at the take's video rate, which is 30 or 60 (never
drop-frame, as Epic's own importer notes), and .fff is a fraction of a frame, not milliseconds
(a 60 frames/s ARKit capture under a 30 frames/s timecode steps by half a frame). Rows are the
ARKit frames the phone delivered, so a busy phone's dropped frames leave gaps that only the
timecodes show.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import TalkfaceError

DAY = 86400.0
_CODE = re.compile(r"(\d{1,2}):(\d{2}):(\d{2})[:;](\d{1,2}(?:[.,]\d*)?)")


def split_timecode(code: str) -> tuple[int, float] | None:
    """'14:03:52:28.207' -> (50632 whole seconds, 28.207 frames); None if it is not a timecode.
    The fraction may follow a decimal comma, as a spreadsheet of such a locale re-saves it."""
    m = _CODE.fullmatch(code.strip())
    if m is None:
        return None
    h, mins, s, frames = m.groups()
    return int(h) * 3600 + int(mins) * 60 + int(s), float(frames.replace(",", "."))


def timecode_rate(codes: list[tuple[int, float]]) -> int:
    """The frame rate of a take's timecodes: 60 if a frame number reaches 30, else 30 if they pass
    a second (a take of under a second at 30 fps is indistinguishable; 60 is the app's default)."""
    if max(f for _, f in codes) >= 30:
        return 60
    return 30 if len({s for s, _ in codes}) > 1 else 60


def seconds_of(codes: list[tuple[int, float]], rate: float) -> np.ndarray:
    """(T,) seconds on the timecode clock (midnight passed within the take counted on)."""
    t = np.array([s + f / rate for s, f in codes], np.float64)
    return t + DAY * np.cumsum(np.concatenate([[0.0], np.diff(t) < -DAY / 2]))


def sample_on_clock(values: np.ndarray, times: np.ndarray, grid: np.ndarray, where: str) -> np.ndarray:
    """(T, D) values stamped at `times` (T,) seconds -> (N, D) at the `grid` (N,) seconds, linear
    between stamps and held beyond the first and last; rows with a repeated stamp keep the first.
    `where` names the file in the error for stamps that go back."""
    if np.any(np.diff(times) < 0):
        k = int(np.argmax(np.diff(times) < 0))
        raise TalkfaceError(f"{where}: the time goes back at row {k + 3}")
    times, keep = np.unique(times, return_index=True)
    values = values[keep]
    cols = [np.interp(grid, times, values[:, j]) for j in range(values.shape[1])]
    return np.stack(cols, 1).astype(np.float32) if cols else np.zeros((len(grid), 0), np.float32)
