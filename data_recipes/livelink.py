"""Live Link Face takes: `talkface prep import TAKES --format livelink`.

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
Head and eye rotations are not imported (their units differ between app versions; `animate` makes
no head motion), as for EmoTalk's curves.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np

from talkface_cli.audio.io import audio_delay, ffmpeg_exe
from talkface_cli.csvfile import read_rows
from talkface_cli.data.store import HOP
from talkface_cli.errors import TalkfaceError
from talkface_cli.face.arkit import arkit_to_ict, csv_rows, curves_of, on_clock, timecodes
from talkface_cli.face.load import load_face_model
from talkface_cli.face.timecode import seconds_of, split_timecode, timecode_rate

LEFT_OUT = ("_neutral", "_raw")  # a calibrated take's other CSVs
TAKE_FILES = ("take.json", "frame_log.csv", "video_metadata.json")  # one of each per take folder
_MOV_TIMECODE = re.compile(r"^\s*timecode\s*:\s*(\S+)", re.MULTILINE)


def take_csvs(root: Path) -> list[Path]:
    """The take CSVs under `root`: Timecode first in the header (a spreadsheet may have saved it
    with `;` or tabs, `csvfile.read_rows`), not frame_log.csv nor a calibrated take's neutral pose
    or raw curves."""
    found = []
    for path in sorted(root.rglob("*.csv")):
        if path.name == "frame_log.csv" or path.stem.endswith(LEFT_OUT):
            continue
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            if re.split(r"[,;\t]", f.readline(), maxsplit=1)[0].strip().lower() == "timecode":
                found.append(path)
    return found


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
    beside = [p for p in sorted(csv.parent.iterdir()) if p.suffix.lower() in (".mov", ".mp4")]
    return beside[0] if len(beside) == 1 else None


def take_speaker(csv: Path) -> str:
    """The folder that holds the take's folder (a folder of one person's takes), else the CSV's
    own folder (takes' CSVs and .movs gathered in one)."""
    return (csv.parent.parent if in_take_folder(csv) else csv.parent).name


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
        probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(video)], capture_output=True).stderr
        found = _MOV_TIMECODE.search(probe.decode(errors="replace"))
        code = split_timecode(found.group(1)) if found else None
        if code is not None:
            return float(seconds_of([code], rate)[0]) + audio_delay(video), "the video's timecode"
    return float("nan"), "the first row"


def livelink_arrays(csv: Path, video: Path | None, samples: int, fps: float | None) -> tuple[dict, str]:
    """ICT-FaceKit clip arrays at 25 fps for a take's sound of `samples` at 16 kHz, and where the
    sound's start was read (`sound_start`)."""
    rows = csv_rows(csv)
    codes = timecodes(csv, rows)
    if codes is None:
        raise TalkfaceError(f"{csv}: its Timecode column holds no timecodes (HH:MM:SS:FF)")
    rate = take_rate(csv, fps) or timecode_rate(codes)
    times = seconds_of(codes, rate)
    start, how = sound_start(csv, video, rate)
    start = times[0] if np.isnan(start) else start
    frames = max(1, round(samples / HOP))
    if times[-1] < start or times[0] > start + frames / 25:
        raise TalkfaceError(f"{csv}: its rows and its sound ({how}) do not overlap in time")
    names = load_face_model("ict").param_names
    params = on_clock(arkit_to_ict(curves_of(csv, rows), names), times, start, frames, str(csv))
    arrays = {
        "params": params,
        "param_names": np.array(names),
        "face_model": "ict",
        "pose": np.zeros((frames, 6), np.float32),
    }
    return arrays, how
