"""ARKit-52 blendshape curves <-> ICT-FaceKit's 53 expressions, and ARKit-named CSV files.

ICT splits ARKit's browInnerUp and cheekPuff into _L/_R halves and has no tongueOut. Import copies
a shared ARKit value to both halves and drops tongueOut; export averages the halves and writes
tongueOut = 0. ARKIT_52 is the alphabetical order EmoTalk / 3D-ETF arrays use.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np

from ..csvfile import number, read_rows
from ..errors import TalkfaceError, require_finite
from .timecode import sample_on_clock, seconds_of, split_timecode, timecode_rate

ARKIT_52 = [
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft",
    "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight",
    "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
]  # fmt: skip


def ict_name(arkit: str) -> str:
    """browDownLeft -> browDown_L (the ICT spelling)."""
    return re.sub(r"Left$", "_L", re.sub(r"Right$", "_R", arkit))


def _key(name: str) -> str:
    """Case- and side-spelling-insensitive key: EyeBlinkLeft, eyeBlinkLeft, eyeBlink_L all match."""
    return ict_name(re.sub(r"_L$", "Left", re.sub(r"_R$", "Right", name.strip()))).lower()


def arkit_to_ict(values: np.ndarray, ict_names: list[str], arkit_names: list[str] = ARKIT_52) -> np.ndarray:
    """(T, len(arkit_names)) ARKit curves -> (T, len(ict_names)) ICT parameters."""
    col = {_key(n): i for i, n in enumerate(arkit_names)}
    out = np.zeros((len(values), len(ict_names)), np.float32)
    for j, name in enumerate(ict_names):
        k = _key(name)
        if k in col:
            out[:, j] = values[:, col[k]]
        elif k[:-2] in col and k[-2:] in ("_l", "_r"):  # browInnerUp_L <- browInnerUp
            out[:, j] = values[:, col[k[:-2]]]
        else:
            raise TalkfaceError(f"ARKit curves have no value for {name}")
    return out


def ict_to_arkit(params: np.ndarray, ict_names: list[str]) -> np.ndarray:
    """(T, 53) ICT parameters -> (T, 52) ARKit curves in ARKIT_52 order."""
    col = {_key(n): i for i, n in enumerate(ict_names)}
    out = np.zeros((len(params), len(ARKIT_52)), np.float32)
    for j, name in enumerate(ARKIT_52):
        k = _key(name)
        if k in col:
            out[:, j] = params[:, col[k]]
        elif f"{k}_l" in col and f"{k}_r" in col:
            out[:, j] = (params[:, col[f"{k}_l"]] + params[:, col[f"{k}_r"]]) / 2
    return out  # tongueOut stays 0


def arkit_csv(curves: np.ndarray, fps: float = 25.0) -> bytes:
    """(T, 52) curves -> CSV bytes: a `time_s` column then the 52 ARKit names (values 0..1 per frame)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["time_s", *ARKIT_52])
    for t, row in enumerate(curves):
        w.writerow([f"{t / fps:.4f}", *(f"{v:.6f}" for v in row)])
    return buf.getvalue().encode()


# Live Link Face's CSV (Epic's iPhone app, and the importers of its takes: Unreal's
# LiveLinkFaceImporter, Blender, Maya, MotionBuilder): its column order, capitalised, then the head
# and eye rotations; timecodes HH:MM:SS:FF.mmm at its default 60 frames per second.
LIVELINK_52 = [
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
    "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward", "JawRight",
    "JawLeft", "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthRight", "MouthLeft",
    "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight", "MouthDimpleLeft",
    "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight", "MouthRollLower", "MouthRollUpper",
    "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft",
    "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight",
    "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft",
    "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut",
]  # fmt: skip
LIVELINK_ROTATIONS = [
    f"{part}{axis}" for part in ("Head", "LeftEye", "RightEye") for axis in ("Yaw", "Pitch", "Roll")
]
LIVELINK_FPS = 60


def livelink_csv(curves: np.ndarray, fps: float = 25.0) -> bytes:
    """(T, 52) curves at `fps` -> Live Link Face CSV bytes: resampled to 60 frames per second and
    held to the 0..1 that ARKit coefficients take (a model's output strays a little below 0). The
    head and eye rotations are 0: a sequence's eyes move by their blendshapes, and `animate` makes
    no head motion."""
    order = [ARKIT_52.index(n[0].lower() + n[1:]) for n in LIVELINK_52]
    frames = np.clip(resample(np.asarray(curves, np.float32), fps, LIVELINK_FPS), 0.0, 1.0)[:, order]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["Timecode", "BlendShapeCount", *LIVELINK_52, *LIVELINK_ROTATIONS])
    rotations = ["0.000000"] * len(LIVELINK_ROTATIONS)
    for k, row in enumerate(frames):
        seconds, frame = divmod(k, LIVELINK_FPS)
        code = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{frame:02d}.000"
        w.writerow([code, len(LIVELINK_52) + len(rotations), *(f"{v:.6f}" for v in row), *rotations])
    return buf.getvalue().encode()


def read_arkit_csv(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read ARKit-named curves (ours, or LiveLink Face's capitalised columns; other columns such as
    head rotation are ignored) -> (T, 52) in ARKIT_52 order, missing names as 0, and each row's
    time in seconds when the file gives it (`row_times`), else None."""
    rows = csv_rows(Path(path))
    return curves_of(Path(path), rows), row_times(Path(path), rows)


def csv_rows(path: Path) -> list[list[str]]:
    """The header and the frame rows of a curves CSV (blank lines left out)."""
    rows = [r for r in read_rows(path, "the CSV") if "".join(r).strip()]
    if len(rows) < 2:
        raise TalkfaceError(f"{path}: no frames in CSV")
    return rows


def curves_of(path: Path, rows: list[list[str]]) -> np.ndarray:
    """(T, 52) curves in ARKIT_52 order from `csv_rows`, missing names as 0."""
    header = {_key(h): i for i, h in enumerate(rows[0])}
    cols = [header.get(_key(n)) for n in ARKIT_52]
    if sum(c is not None for c in cols) < 40:
        raise TalkfaceError(f"{path}: fewer than 40 ARKit blendshape columns found in the header")
    out = np.zeros((len(rows) - 1, 52), np.float32)
    for t, row in enumerate(rows[1:]):
        for j, c in enumerate(cols):
            if c is not None:
                try:
                    out[t, j] = number(row[c])
                except (ValueError, IndexError):
                    raise TalkfaceError(f"{path}: row {t + 2}, column {rows[0][c]}: not a number") from None
    return out


def row_times(path: Path, rows: list[list[str]]) -> np.ndarray | None:
    """(T,) seconds of each row from a first column `time_s` (ours) or Live Link Face's `Timecode`
    at the rate its codes show (`timecode.py`); None for other files."""
    if rows[0][0].strip().lower() == "time_s":
        try:
            return np.array([number(r[0]) for r in rows[1:]], np.float64)
        except ValueError:
            raise TalkfaceError(f"{path}: the time_s column holds a cell that is not a number") from None
    codes = timecodes(path, rows)
    return None if codes is None else seconds_of(codes, timecode_rate(codes))


def timecodes(path: Path, rows: list[list[str]]) -> list[tuple[int, float]] | None:
    """Each row's timecode (`split_timecode`) from a first column `Timecode`; None for other
    files, and for a Timecode column of plain frame numbers (as some tools write)."""
    cells = [r[0] for r in rows[1:]]
    if rows[0][0].strip().lower() != "timecode" or all(c.strip().isdigit() for c in cells):
        return None
    codes = [split_timecode(c) for c in cells]
    if None in codes:
        k = codes.index(None)
        raise TalkfaceError(f"{path}: row {k + 2}: {cells[k]!r} is not a timecode (HH:MM:SS:FF)")
    return codes


def resample(x: np.ndarray, src_fps: float, dst_fps: float = 25.0) -> np.ndarray:
    """Linear interpolation of (T, D) frames from `src_fps` to `dst_fps` (same duration)."""
    if src_fps == dst_fps:
        return x
    n_out = max(1, round(len(x) * dst_fps / src_fps))
    t = np.arange(n_out) / dst_fps * src_fps  # positions in source frames
    return np.stack([np.interp(t, np.arange(len(x)), x[:, j]) for j in range(x.shape[1])], 1).astype(
        np.float32
    )


def load_arkit_curves(path: Path, fps: float | None = None) -> tuple[np.ndarray, float]:
    """ARKit curves (T, 52) and their frame rate from a CSV (ours or LiveLink Face) or an EmoTalk /
    3D-ETF `.npy` (T, 52). The rate comes from `fps`, else the CSV's times (the rows sampled on
    their own clock at 25 fps: a Live Link take's dropped frames leave gaps), else 60 (LiveLink's
    capture rate, `LIVELINK_FPS`) for CSV and 30 (3D-ETF) for `.npy`."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        try:
            curves = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise TalkfaceError(f"{path}: not a readable .npy array ({e})") from None
        if curves.ndim != 2 or curves.shape[1] != 52:
            raise TalkfaceError(f"{path}: expected (T, 52) ARKit blendshape curves, got {curves.shape}")
        require_finite(curves, f"{path}:")
        return curves.astype(np.float32), float(fps or 30.0)
    curves, times = read_arkit_csv(path)
    if fps or times is None:
        return curves, float(fps or LIVELINK_FPS)
    return on_clock(curves, times, times[0], None, str(path)), 25.0


def on_clock(
    curves: np.ndarray, times: np.ndarray, start: float, frames: int | None, where: str
) -> np.ndarray:
    """(T, D) rows stamped at `times` (T,) seconds -> (frames, D) at 25 fps from `start` seconds;
    `frames` None: as many as the rows last (each row holding until the next, the last for the
    rows' usual step)."""
    if frames is None:
        step = float(np.median(np.diff(times))) if len(times) > 1 else 1 / 25
        frames = max(1, round((times[-1] - start + step) * 25))
    return sample_on_clock(curves, times, start + np.arange(frames) / 25, where)
