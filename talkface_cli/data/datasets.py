"""Clips of one or more stores, held in memory, with fixed-length windows for training."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from ..errors import TalkfaceError
from .store import HOP, load_clip, manifest_hash, read_manifest


@dataclass
class Clip:
    store: Path
    record: dict
    audio: np.ndarray  # (N,)
    params: np.ndarray | None  # (T, D)
    shape: np.ndarray | None
    face_model: str | None

    @property
    def id(self) -> str:
        return self.record["id"]

    @property
    def frames(self) -> int:
        return int(self.record["frames"])

    @cached_property
    def sound(self) -> str:
        """Fingerprint of the audio, computed once (what a model's record of its clips holds)."""
        return fingerprint(self.audio)


def fingerprint(audio: np.ndarray) -> str:
    """The first 16 hex digits of the sha256 of 16 kHz float32 samples."""
    return hashlib.sha256(np.ascontiguousarray(audio, np.float32).tobytes()).hexdigest()[:16]


def load_clips(
    stores: list[Path], splits: tuple[str, ...] | None = None, need_face: bool = False, labelled: bool = False
) -> list[Clip]:
    """Clips of `stores` (in manifest order), optionally only some splits, with a face, labelled."""
    out = []
    for store in stores:
        for r in read_manifest(store):
            if splits is not None and r.get("split") not in splits:
                continue
            if need_face and not r.get("face_model"):
                continue
            if labelled and not r.get("emotion"):
                continue
            arrays = load_clip(store, r["id"])
            out.append(
                Clip(
                    Path(store),
                    r,
                    arrays["audio"],
                    arrays.get("params"),
                    arrays.get("shape"),
                    str(arrays["face_model"]) if "face_model" in arrays else None,
                )
            )
    if not out:
        raise no_clips(stores, splits, need_face, labelled)
    return out


def no_clips(
    stores: list[Path], splits: tuple[str, ...] | None, need_face: bool, labelled: bool
) -> TalkfaceError:
    return TalkfaceError(
        f"{', '.join(map(str, stores))}: no clips for splits {splits}"
        f"{' with a face' if need_face else ''}{' with emotion labels' if labelled else ''}"
    )


def data_hash(stores: list[Path]) -> str:
    return "+".join(manifest_hash(s) for s in stores)


def window(clip: Clip, start: int, length: int) -> tuple[np.ndarray, slice, int]:
    """Audio of frames [start, start+length) zero-padded to length*HOP, the frame slice, valid count."""
    stop = min(clip.frames, start + length)
    audio = clip.audio[start * HOP : stop * HOP]
    audio = np.pad(audio, (0, length * HOP - len(audio)))
    return audio.astype(np.float32), slice(start, stop), stop - start


def random_start(clip: Clip, length: int) -> int:
    """A crop start drawn from torch's global generator (checkpointed, so resumes are exact)."""
    spare = clip.frames - length
    return int(torch.randint(0, spare + 1, ()).item()) if spare > 0 else 0
