"""Live Link Face takes: the ARKit curves of a take put in step with its sound.

A take of the app's ARKit mode is a folder, as the app shares it (file names after Epic's
LiveLinkFaceMetadata, which Unreal's ingest reads):
  {slate}_{take}_{subject}.csv       ARKit curves, a timecoded row per captured frame
  {slate}_{take}_{subject}_cal.csv   in a calibrated take instead (with _neutral.csv and _raw.csv,
                                     the calibration's pose and the uncalibrated curves: not read)
  {slate}_{take}_{subject}.mov       the reference video, with the sound
  frame_log.csv, video_metadata.json, take.json, audio_metadata.json, thumbnail.jpg
The curves are sampled at 25 fps on the timecode clock from the moment the sound starts, so a
take's dropped frames and the sound's own start are kept in step. That moment comes from
frame_log.csv (its first audio line, else its first video frame: "A|V,index,num,den,timecode"),
else the .mov's timecode track (its first picture) and its sound's delay, else the first row.
The timecode's rate is `--fps`, else video_metadata.json's FrameRate, else read from the codes.
Head and eye rotations are not read (their units differ between app versions; `animate` makes
no head motion), as for EmoTalk's curves. `prep import --format livelink` makes training clips of
takes (`data_recipes/livelink.py`); `render` plays one with its sound.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np

from ..audio.io import SAMPLE_RATE, audio_delay, ffmpeg_exe, media_path
from ..csvfile import read_rows
from ..errors import TalkfaceError
from .arkit import arkit_to_ict, csv_rows, curves_of, on_clock, timecodes
from .sequence import FPS
from .timecode import seconds_of, split_timecode, timecode_rate

TAKE_FILES = ("take.json", "frame_log.csv", "video_metadata.json")  # one of each per take folder
_MOV_TIMECODE = re.compile(r"^\s*timecode\s*:\s*(\S+)", re.MULTILINE)


def is_take_csv(path: Path) -> bool:
    """Whether a CSV's header begins with Timecode, as a take's does (a spreadsheet may have saved
    it with `;` or tabs, `csvfile.read_rows`)."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        return re.split(r"[,;\t]", f.readline(), maxsplit=1)[0].strip().lower() == "timecode"


def in_take_folder(csv: Path) -> bool:
    """Whether a CSV sits in a take's own folder (one holding a take's own files), not among other
    takes' CSVs and .movs gathered in one folder."""
    return any((csv.parent / name).is_file() for name in TAKE_FILES)


def take_mov(csv: Path) -> Path:
    """Where a take's .mov is by its name: the CSV's without `_cal` ({slate}_{take}_{subject}.mov)."""
    return csv.with_name(csv.stem.removesuffix("_cal") + ".mov")


def take_video(csv: Path) -> Path | None:
    """The take's .mov (`take_mov`), else, in a take's own folder, the one video there."""
    own = take_mov(csv)
    if own.is_file() or not in_take_folder(csv):
        return own if own.is_file() else None
    beside = [  # not macOS's AppleDouble ._NAME beside each file it copies off a Mac
        p for p in sorted(csv.parent.iterdir()) if p.suffix.lower() in (".mov", ".mp4") and p.name[0] != "."
    ]
    return beside[0] if len(beside) == 1 else None


def take_rate(csv: Path, fps: float | None) -> float | None:
    """The take's timecode rate: `fps` (--fps), else video_metadata.json's FrameRate, else None
    (read from the codes)."""
    meta = csv.parent / "video_metadata.json"
    if fps or not meta.is_file():
        return fps
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (ValueError, OSError) as e:
        raise TalkfaceError(f"{meta}: not readable JSON ({e})") from None
    rate = data.get("FrameRate") if isinstance(data, dict) else None
    return float(round(rate)) if isinstance(rate, (int, float)) and rate > 0 else None


def sound_start(csv: Path, video: Path | None, rate: float) -> tuple[float, str]:
    """(seconds on the timecode clock at which the sound starts, where that was read)."""
    log = csv.parent / "frame_log.csv"
    if log.is_file():
        entries = [r for r in read_rows(log, "the frame log") if len(r) >= 5]
        first = next((r for r in entries if r[0].strip() == "A"), None) or next(
            (r for r in entries if r[0].strip() == "V" and r[1].strip() == "0"), None
        )
        code = split_timecode(first[4]) if first else None
        if code is None:
            raise TalkfaceError(f"{log}: no audio line or first video frame with a timecode")
        return float(seconds_of([code], rate)[0]), "frame_log.csv"
    if video is not None:
        probe = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-i", media_path(video)], capture_output=True
        ).stderr
        found = _MOV_TIMECODE.search(probe.decode(errors="replace"))
        code = split_timecode(found.group(1)) if found else None
        if code is not None:
            return float(seconds_of([code], rate)[0]) + audio_delay(video), "the video's timecode"
    return float("nan"), "the first row"


def take_params(
    csv: Path, names: list[str], samples: int, video: Path | None, fps: float | None = None
) -> tuple[np.ndarray, str]:
    """A take's curves as (frames, len(names)) ICT-FaceKit parameters at 25 fps from the moment
    its sound of `samples` at 16 kHz starts and as long as it, and where that start was read
    (`sound_start`)."""
    rows = csv_rows(csv)
    codes = timecodes(csv, rows)
    if codes is None:
        raise TalkfaceError(f"{csv}: its Timecode column holds no timecodes (HH:MM:SS:FF)")
    rate = take_rate(csv, fps) or timecode_rate(codes)
    times = seconds_of(codes, rate)
    start, how = sound_start(csv, video, rate)
    start = times[0] if np.isnan(start) else start
    frames = max(1, round(samples * FPS / SAMPLE_RATE))
    if times[-1] < start or times[0] > start + frames / FPS:
        raise TalkfaceError(f"{csv}: its rows and its sound ({how}) do not overlap in time")
    return on_clock(arkit_to_ict(curves_of(csv, rows), names), times, start, frames, str(csv)), how
