"""MediaPipe face detection (BlazeFace short range) and Face Mesh landmarks, decoded in numpy.

Detection: 128x128 letterboxed input in [-1, 1] (then tiles, when the whole frame shows no face),
896 SSD anchors (strides 8, 16, 16, 16; fixed size), boxes and 6 keypoints decoded with scale 128,
sigmoid scores. Landmarks: the face region is cropped square, 1.5x its box, rotated so the eyes are
level, to 192x192 in [0, 1]; the model gives 468 (x, y, z) points in crop pixels and a
face-presence logit. Tracking reuses the last frame's landmarks as the next region, as MediaPipe's
graph does, and re-detects when presence drops.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .runtime import DETECTOR, LANDMARKER, interpreter

# iBUG-68 order from the 468-point mesh (the jaw contour is approximate: iBUG's contour follows
# the silhouette, the mesh's does not; fitting uses points 17..67).
MESH_TO_IBUG68 = np.array([
    127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 397, 361, 323, 454, 356,  # jaw 0-16
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,  # brows 17-26
    168, 197, 5, 4, 75, 97, 2, 326, 305,  # nose 27-35
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,  # eyes 36-47
    61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91,  # outer lips 48-59
    78, 81, 13, 311, 308, 402, 14, 178,  # inner lips 60-67
])  # fmt: skip


def _anchors() -> np.ndarray:
    """(896, 2) anchor centres in [0, 1] for BlazeFace short range."""
    out = []
    for grid, per_cell in ((16, 2), (8, 6)):
        ys, xs = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
        centres = np.stack([(xs + 0.5) / grid, (ys + 0.5) / grid], -1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


ANCHORS = _anchors()


class FaceMeshTracker:
    """Per-frame 468-point face landmarks in image pixels (x, y, z), tracking across frames."""

    def __init__(self, threads: int = 1, min_score: float = 0.5, min_presence: float = 0.5):
        self.det = interpreter(DETECTOR, threads)
        self.lmk = interpreter(LANDMARKER, threads)
        self.min_score, self.min_presence = min_score, min_presence
        self.roi: tuple[float, float, float, float] | None = None  # cx, cy, size, angle (pixels, radians)

    def reset(self) -> None:
        self.roi = None

    def detect(self, rgb: np.ndarray) -> tuple[float, float, float, float] | None:
        """The most confident face as an ROI (cx, cy, size, angle), or None. The whole frame first,
        then, if no face is found, overlapping tiles of 1/2 and 1/4 of its side: the short-range
        detector sees a 128-pixel image and misses faces under ~7% of the frame's width (a 1080p
        wide shot), which a tile enlarges. Tiles are cut from the frame scaled once per size."""
        h, w = rgb.shape[:2]
        side = max(h, w)
        whole = self._detect_in(rgb, -((side - w) // 2), -((side - h) // 2), side)
        if whole is not None:
            return whole[1]
        for tile in (side // 2, side // 4):
            if tile < 128:
                break
            f = 128 / tile
            small = cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
            found = [self._detect_in(small, x, y, 128) for x, y in tile_origins(*small.shape[1::-1], 128)]
            found = [roi for roi in found if roi is not None]
            if found:
                cx, cy, size, angle = max(found)[1]
                return cx / f, cy / f, size / f, angle
        return None

    def _detect_in(self, rgb: np.ndarray, x0: int, y0: int, side: int):  # noqa: ANN202
        """(score, ROI in image pixels) of the best face in the square at (x0, y0), or None."""
        x = square_crop(rgb, x0, y0, side)
        if side != 128:
            x = cv2.resize(x, (128, 128), interpolation=cv2.INTER_AREA)
        self.det.set_tensor(
            self.det.get_input_details()[0]["index"], (x.astype(np.float32) / 127.5 - 1.0)[None]
        )
        self.det.invoke()
        outs = {d["name"]: self.det.get_tensor(d["index"])[0] for d in self.det.get_output_details()}
        raw, logits = outs["regressors"], outs["classificators"][:, 0]
        scores = 0.5 * (1 + np.tanh(np.clip(logits, -100, 100) / 2))  # sigmoid without overflow
        best = int(np.argmax(scores))
        if scores[best] < self.min_score:
            return None
        r = raw[best] / 128.0
        cx, cy = r[0] + ANCHORS[best, 0], r[1] + ANCHORS[best, 1]
        bw, bh = r[2], r[3]
        eyes = (r[4:8].reshape(2, 2) + ANCHORS[best]) * side + (x0, y0)
        angle = -math.atan2(-(eyes[1, 1] - eyes[0, 1]), eyes[1, 0] - eyes[0, 0])
        return float(scores[best]), (cx * side + x0, cy * side + y0, max(bw, bh) * side * 1.5, angle)

    def _landmarks(self, rgb: np.ndarray, roi) -> tuple[np.ndarray, float]:  # noqa: ANN001
        cx, cy, size, angle = roi
        c, s = math.cos(angle), math.sin(angle)
        scale = 192.0 / size
        # image -> crop: rotate by -angle about the ROI centre, scale, move the centre to (96, 96)
        m = np.array([[c * scale, s * scale, 0.0], [-s * scale, c * scale, 0.0]])
        m[:, 2] = np.array([96.0, 96.0]) - m[:, :2] @ np.array([cx, cy])
        crop = cv2.warpAffine(rgb, m, (192, 192), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        self.lmk.set_tensor(self.lmk.get_input_details()[0]["index"], (crop.astype(np.float32) / 255.0)[None])
        self.lmk.invoke()
        outs = {d["name"]: self.lmk.get_tensor(d["index"]) for d in self.lmk.get_output_details()}
        pts = outs["conv2d_21"].reshape(468, 3)
        presence = float(0.5 * (1 + np.tanh(outs["conv2d_31"].reshape(-1)[0] / 2)))
        inv = cv2.invertAffineTransform(m)
        xy = pts[:, :2] @ inv[:, :2].T + inv[:, 2]
        return np.concatenate([xy, pts[:, 2:] / scale], 1).astype(np.float32), presence

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        """468 landmarks (468, 3) of the face in `rgb`, or None when no face is found."""
        for _ in range(2):  # tracked region first, then one fresh detection
            if self.roi is None:
                self.roi = self.detect(rgb)
                if self.roi is None:
                    return None
            pts, presence = self._landmarks(rgb, self.roi)
            if presence >= self.min_presence:
                self.roi = roi_from_landmarks(pts)
                return pts
            self.roi = None  # lost: detect again (once)
        return None


def tile_origins(w: int, h: int, tile: int) -> list[tuple[int, int]]:
    """Top-left corners of square tiles of side `tile` covering a w x h frame, overlapping by half
    a tile; along a side shorter than the tile, one tile centred on it (zero-padded)."""

    def starts(n: int) -> list[int]:
        if n <= tile:
            return [-((tile - n) // 2)]
        k = math.ceil((n - tile) / (tile / 2)) + 1
        return [round(v) for v in np.linspace(0, n - tile, k)]

    return [(x, y) for y in starts(h) for x in starts(w)]


def square_crop(rgb: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """(side, side, 3) the square at (x0, y0) of `rgb`, black where it leaves the frame."""
    h, w = rgb.shape[:2]
    out = np.zeros((side, side, 3), rgb.dtype)
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    out[ya - y0 : yb - y0, xa - x0 : xb - x0] = rgb[ya:yb, xa:xb]
    return out


def roi_from_landmarks(pts: np.ndarray) -> tuple[float, float, float, float]:
    """Next frame's ROI from this frame's landmarks: their box, 1.5x, eyes (33, 263) level."""
    lo, hi = pts[:, :2].min(0), pts[:, :2].max(0)
    right, left = pts[33, :2], pts[263, :2]
    angle = -math.atan2(-(left[1] - right[1]), left[0] - right[0])
    c, s = math.cos(angle), math.sin(angle)
    centre = (lo + hi) / 2
    # box size in the rotated frame
    rot = (pts[:, :2] - centre) @ np.array([[c, -s], [s, c]])
    size = float((rot.max(0) - rot.min(0)).max()) * 1.5
    return float(centre[0]), float(centre[1]), size, angle
