"""Pick and cache a face model by kind: `ict` (embedded default) or `flame` (user-supplied)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import TalkfaceError
from .base import FaceModel

_CACHE: dict[tuple[str, str], FaceModel] = {}


def load_face_model(
    kind: str = "ict", ict: str | Path | None = None, flame: str | Path | None = None
) -> FaceModel:
    """`ict`: ICT-FaceKit (packaged, or converted from `ict`/TALKFACE_ICT); `flame`: FLAME from
    the folder `flame` or TALKFACE_FLAME. Each model is built once per process."""
    if kind == "ict":
        key = (kind, str(ict or os.environ.get("TALKFACE_ICT") or ""))
        if key not in _CACHE:
            from .ict import ICTFace

            _CACHE[key] = ICTFace(ict)
    elif kind == "flame":
        folder = flame or os.environ.get("TALKFACE_FLAME")
        if not folder:
            raise TalkfaceError(
                "these faces are FLAME's: pass --flame-model DIR (or set TALKFACE_FLAME) with your "
                "licensed FLAME files (FLAME_NEUTRAL.pkl ...)"
            )
        key = (kind, str(Path(folder).expanduser().resolve()))
        if key not in _CACHE:
            from .flame import FlameFace

            _CACHE[key] = FlameFace(folder)
    else:
        raise TalkfaceError(f"unknown face model {kind!r} (known: ict, flame)")
    return _CACHE[key]
