"""Where a video's face track breaks: a change of shot, or a face box that jumps to another face.

Both rules are syncnet_python's (run_pipeline.py), the pipeline LRS and VoxCeleb were cut with:
PySceneDetect's content detector splits the video into shots before faces are tracked, and within
a shot a detection continues a track only where its box overlaps the track's last by IoU >= 0.5.
"""

from __future__ import annotations

import cv2
import numpy as np

# PySceneDetect's ContentDetector default: the mean |difference| of hue, saturation and value (0-255)
# between two frames. Measured on frames 256 pixels wide: RAVDESS's four clips change by at most
# 3.6 from frame to frame, a pan of 27 px/frame (of 1280) across one by 9.8, a quarter of the frame
# going black (one of two faces side by side hidden) by 21.8, a cut to the face zoomed in 2x by 42.3.
SHOT_CHANGE = 27.0
SAME_FACE = 0.5  # IoU of two face boxes at or above which they are the same face (syncnet_python)
WIDTH = 256  # pixels: frames are compared at this width, scaled as PySceneDetect scales (bilinear)


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """(h, WIDTH, 3) int16 HSV of a (H, W, 3) BGR frame, for `content_change`."""
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (WIDTH, max(1, round(h * WIDTH / w))), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(small, cv2.COLOR_BGR2HSV).astype(np.int16)


def content_change(a: np.ndarray, b: np.ndarray) -> float:
    """PySceneDetect's content value of two `thumbnail`s: the mean |difference| over pixels and
    the H, S, V channels (hue not wrapped, as it does)."""
    return float(np.abs(a - b).mean())


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0, w) * max(0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
