"""Live Link Face takes as training clips: `talkface prep import TAKES --format livelink`.

The takes are read as `talkface_cli/face/take.py` reads them (curves on the timecode clock, from
the moment the sound starts); here they are found under a folder and given their speaker.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from talkface_cli.face.load import load_face_model
from talkface_cli.face.take import in_take_folder, is_take_csv, take_params

from .visible import files_under

LEFT_OUT = ("_neutral", "_raw")  # a calibrated take's other CSVs


def take_csvs(root: Path) -> list[Path]:
    """The take CSVs under `root` (`is_take_csv`), not frame_log.csv nor a calibrated take's
    neutral pose or raw curves."""
    return [
        path
        for path in files_under(root, "*.csv")
        if path.name != "frame_log.csv" and not path.stem.endswith(LEFT_OUT) and is_take_csv(path)
    ]


def take_speaker(csv: Path) -> str:
    """The folder that holds the take's folder (a folder of one person's takes), else the CSV's
    own folder (takes' CSVs and .movs gathered in one)."""
    return (csv.parent.parent if in_take_folder(csv) else csv.parent).name


def livelink_arrays(csv: Path, video: Path | None, samples: int, fps: float | None) -> tuple[dict, str]:
    """ICT-FaceKit clip arrays at 25 fps for a take's sound of `samples` at 16 kHz, and where the
    sound's start was read (`take.sound_start`)."""
    names = load_face_model("ict").param_names
    params, how = take_params(csv, names, samples, video, fps)
    arrays = {
        "params": params,
        "param_names": np.array(names),
        "face_model": "ict",
        "pose": np.zeros((len(params), 6), np.float32),
    }
    return arrays, how
