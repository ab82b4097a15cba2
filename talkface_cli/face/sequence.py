"""The parameter-sequence `.npz` interchange format (stable; users' scripts depend on it).

Keys: `params` float32 (T, D); `param_names` (D,) str; `face_model` str (`ict`, `flame`); `fps`
(25); optional `pose` float32 (T, 6: axis-angle rotation, translation), `shape` float32 (S,),
`audio` float32 (N,) at `sample_rate` (16000); `made_by` str (what made it: `talkface_cli.made_by`).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TalkfaceError, require_file, require_finite
from ..fsutil import atomic_open

FPS = 25


@dataclass
class ParamSequence:
    params: np.ndarray  # (T, D) float32
    param_names: list[str]
    face_model: str = "ict"
    fps: int = FPS
    pose: np.ndarray | None = None  # (T, 6)
    shape: np.ndarray | None = None  # (S,)
    audio: np.ndarray | None = None  # (N,)
    sample_rate: int = 16000

    @property
    def num_frames(self) -> int:
        return len(self.params)

    def save(self, path: Path, made_by: str | None = None) -> None:
        """Write the .npz atomically; `made_by` records the work that made it."""
        arrays = {
            "params": np.asarray(self.params, np.float32),
            "param_names": np.asarray(self.param_names, dtype=str),
            "face_model": np.asarray(self.face_model),
            "fps": np.asarray(self.fps),
        }
        if self.pose is not None:
            arrays["pose"] = np.asarray(self.pose, np.float32)
        if self.shape is not None:
            arrays["shape"] = np.asarray(self.shape, np.float32)
        if self.audio is not None:
            arrays["audio"] = np.asarray(self.audio, np.float32)
            arrays["sample_rate"] = np.asarray(self.sample_rate)
        if made_by is not None:
            arrays["made_by"] = np.asarray(made_by)
        with atomic_open(Path(path)) as f:  # not built in memory: an hour's audio is 0.2 GB
            np.savez(f, **arrays)


def stored_made_by(path: Path) -> str | None:
    """The `made_by` record of a .npz (None: it has none, or is no readable .npz)."""
    try:
        with zipfile.ZipFile(path) as z, z.open("made_by.npy") as f:
            return str(np.lib.format.read_array(f, allow_pickle=False))
    except (KeyError, OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def load_sequence(path: Path) -> ParamSequence:
    """Read and validate a parameter sequence; every problem is one line naming the file."""
    path = require_file(path)
    if not zipfile.is_zipfile(path):  # np.load would take a .npy, and call a sound file pickled data
        raise TalkfaceError(
            f"{path}: not a .npz parameter sequence (ARKit curves go as .csv or EmoTalk's .npy)"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise TalkfaceError(f"{path}: not a readable .npz parameter file ({e})") from None
    for key in ("params", "param_names", "face_model"):
        if key not in data:
            raise TalkfaceError(f"{path}: missing '{key}' (see the interchange format in DESIGN.md)")
    params = data["params"]
    if params.ndim != 2 or params.shape[0] == 0:
        raise TalkfaceError(f"{path}: 'params' must be (T, D) with T > 0, got {params.shape}")
    names = [str(n) for n in data["param_names"]]
    if len(names) != params.shape[1]:
        raise TalkfaceError(f"{path}: {len(names)} param_names for {params.shape[1]} parameter columns")
    pose = data.get("pose")
    for key, values in (("params", params), ("pose", pose)):
        require_finite(values, f"{path}: '{key}'")
    fps = int(data.get("fps", FPS))
    if fps != FPS:
        raise TalkfaceError(f"{path}: fps is {fps}; talkface sequences are {FPS} fps")
    if pose is not None and pose.shape != (len(params), 6):
        raise TalkfaceError(f"{path}: 'pose' must be (T, 6) = ({len(params)}, 6), got {pose.shape}")
    return ParamSequence(
        params=params.astype(np.float32),
        param_names=names,
        face_model=str(data["face_model"]),
        fps=fps,
        pose=None if pose is None else pose.astype(np.float32),
        shape=data["shape"].astype(np.float32) if "shape" in data else None,
        audio=data["audio"].astype(np.float32) if "audio" in data else None,
        sample_rate=int(data.get("sample_rate", 16000)),
    )
