"""Load the bundled .tflite models with ai-edge-litert (optional extra `track`)."""

from __future__ import annotations

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
    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    return it
