"""Load the bundled .tflite models with ai-edge-litert (optional extra `track`)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import TalkfaceError

ASSETS = Path(__file__).parent / "assets"
DETECTOR = ASSETS / "face_detection_short_range.tflite"
LANDMARKER = ASSETS / "face_landmark.tflite"


def interpreter(path: Path, threads: int = 1):  # noqa: ANN201 - ai_edge_litert Interpreter
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise TalkfaceError("face tracking needs ai-edge-litert: pip install 'talkface[track]'") from None
    if not path.is_file():
        raise TalkfaceError(f"{path}: bundled tracking model missing; reinstall talkface")
    with _without_xnnpack_banner():
        it = Interpreter(model_path=str(path), num_threads=threads)
        it.allocate_tensors()
    return it


BANNER = "INFO: Created TensorFlow Lite XNNPACK delegate"


@contextmanager
def _without_xnnpack_banner() -> Iterator[None]:
    """LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on the process's
    stderr (C++, not Python logging) when a model is loaded; hold back that line, pass on the rest."""
    sys.stderr.flush()
    saved, buf = os.dup(2), tempfile.TemporaryFile()
    os.dup2(buf.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        buf.seek(0)
        rest = [ln for ln in buf.read().decode(errors="replace").splitlines() if BANNER not in ln]
        buf.close()
        if rest:
            print("\n".join(rest), file=sys.stderr)
