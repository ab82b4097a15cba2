"""Decode a video at 25 fps, track the 468-point face mesh in each output frame, keep its iBUG-68 points."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..audio.io import ffmpeg_exe, interlaced, media_path
from ..errors import TalkfaceError, require_file
from ..fsutil import utf8_path
from ..ui import progress
from .mediapipe import MESH_TO_IBUG68, FaceMeshTracker
from .shots import SAME_FACE, SHOT_CHANGE, content_change, iou, thumbnail

FPS = 25
MAX_GAP = 5  # frames: missed detections over at most this many frames are interpolated
# A frame is still where the face's box changed by less than this mean |difference| (grey levels,
# 0-255) from the frame before. Measured on the face box of RAVDESS clips: a frozen picture
# re-encoded by libx264 changes by 0.00-0.09, a live face at rest by 0.5-1.3 (0.04-0.2 once
# squeezed to 320x180 at CRF 40-51, for a few frames): what tells a freeze is its length, FROZEN.
STILL_LEVEL = 0.1
HELD = 0.2  # s: a source frame shown longer than this is held, not taken early (frames_at_25fps)
FROZEN = FPS  # frames: a picture still for this long is a photo or a frozen video, not a live face


@dataclass
class Track:
    landmarks: np.ndarray  # (T, 68, 3) iBUG-68 points in image pixels (x right, y down), gaps interpolated
    found: np.ndarray  # (T,) bool: detected in this frame (before interpolation)
    still: np.ndarray  # (T,) bool: the face's box shows the picture of the frame before (STILL_LEVEL)
    starts: np.ndarray  # (T,) bool: a found face that is not the one found before (`shots`)
    size: tuple[int, int]  # (width, height)
    src_fps: float

    @property
    def miss_fraction(self) -> float:
        return float(1 - self.found.mean()) if len(self.found) else 1.0


def open_video(path: Path) -> tuple[cv2.VideoCapture, float, int]:
    """An opened capture, its frame rate and frame count; a clear error if it is not a video. A
    container that gives no duration (a browser's MediaRecorder WebM, a recording written to a
    pipe or cut short; OpenCV reads its frame count as a huge negative number) has its frames
    counted, and its rate is their average over the time they span."""
    require_file(path)
    cap = capture(path)
    src_fps = cap.get(cv2.CAP_PROP_FPS) or 0.0 if cap.isOpened() else 0.0
    n_src = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else 0
    if cap.isOpened() and (src_fps <= 0 or n_src <= 0):
        n_src, seconds = counted_frames(path)
        src_fps = n_src / seconds if seconds > 0 else 0.0
    if src_fps <= 0 or n_src <= 0:
        cap.release()
        raise TalkfaceError(f"{path}: no decodable video stream (truncated, corrupt or not a video)")
    return cap, src_fps, n_src


def capture(path: Path) -> cv2.VideoCapture | WovenFrames | SquarePixels:
    """cv2.VideoCapture of `path` (OpenCV crashed on a name that is not UTF-8; the link
    `utf8_path` may make is removed once the file is open), or for an interlaced video the same
    calls on frames that ffmpeg decodes and deinterlaces (`WovenFrames`); frames of pixels that
    are not square come stretched to the picture's shape (`SquarePixels`)."""
    with utf8_path(path) as name:
        cap = cv2.VideoCapture(name)
    if not cap.isOpened():
        return cap
    num, den = cap.get(cv2.CAP_PROP_SAR_NUM), cap.get(cv2.CAP_PROP_SAR_DEN)
    aspect = num / den if num > 0 and den > 0 else 1.0  # 0/1: not given, square
    turned = cap.get(cv2.CAP_PROP_ORIENTATION_META) in (90, 270)
    if interlaced(path):
        cap = WovenFrames(path, cap)
    return SquarePixels(cap, aspect, turned) if abs(aspect - 1) > 1e-3 else cap


class SquarePixels:
    """A capture whose frames are stretched to square pixels. DV, DVD and broadcast video (and
    HDV's and AVCHD's 1440x1080) store a 16:9 or 4:3 picture in pixels wider or narrower than
    tall, as their sample aspect ratio `aspect` says; OpenCV returns the stored pixels, so a face
    stored 25-30% narrower (4:3, 64:45) was tracked about 20% narrower than it is, and fitted
    with a narrower mouth (10 mm max lip error on one RAVDESS clip). The stored width is stretched
    by `aspect`, or the height where a rotation turns the picture (`turned`: OpenCV turns it, not
    the aspect)."""

    def __init__(self, cap: cv2.VideoCapture | WovenFrames, aspect: float, turned: bool):
        w, h = cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
        self.cap, self.size = cap, (round(w), round(h * aspect)) if turned else (round(w * aspect), round(h))
        self.shrink = aspect < 1

    def read(self) -> tuple[bool, np.ndarray | None]:
        ok, frame = self.cap.read()
        if not ok:
            return ok, frame
        how = cv2.INTER_AREA if self.shrink else cv2.INTER_LINEAR
        return ok, cv2.resize(frame, self.size, interpolation=how)

    def get(self, prop: int) -> float:
        if prop in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT):
            return float(self.size[prop == cv2.CAP_PROP_FRAME_HEIGHT])
        return self.cap.get(prop)

    def __getattr__(self, name: str):  # isOpened, release (and grab, where it has one): the capture's
        return getattr(self.cap, name)


class WovenFrames:
    """The calls `open_video` and `frames_at_25fps` make on a cv2.VideoCapture, for an interlaced
    video: OpenCV's bundled decoder cannot convert interlaced frames ("Cannot convert interlaced
    to progressive frames") and gave them all black, or as whatever its buffer last held (another
    video's picture). ffmpeg decodes them here, yadif weaving each frame's two fields into one, in
    a pipe of BGR frames. Such video (camcorders, DV, broadcast) runs at a constant rate, so a
    frame's time is its number over the rate."""

    def __init__(self, path: Path, cap: cv2.VideoCapture):
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        cap.release()
        n, seconds = counted_frames(path)  # OpenCV reads a DV file's rate as 600 or 60000 fps
        self.props = {cv2.CAP_PROP_FPS: n / seconds if seconds > 0 else 0.0, cv2.CAP_PROP_FRAME_COUNT: n}
        self.props |= {cv2.CAP_PROP_FRAME_WIDTH: w, cv2.CAP_PROP_FRAME_HEIGHT: h}
        self.shape, self.read_frames = (h, w, 3), 0
        cmd = [ffmpeg_exe(), "-v", "error", "-i", media_path(path), "-map", "0:v:0", "-vf", "yadif"]
        cmd += ["-s", f"{w}x{h}", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def isOpened(self) -> bool:  # noqa: N802 - cv2.VideoCapture's name
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        data = self.proc.stdout.read(self.shape[0] * self.shape[1] * 3)
        if len(data) < self.shape[0] * self.shape[1] * 3:
            return False, None
        self.read_frames += 1
        return True, np.frombuffer(bytearray(data), np.uint8).reshape(self.shape)

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_POS_MSEC:  # the time of the frame read last
            return max(0, self.read_frames - 1) * 1000 / self.props[cv2.CAP_PROP_FPS]
        return self.props[prop]

    def release(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def counted_frames(path: Path) -> tuple[int, float]:
    """The frames of the first video stream of `path` and the seconds from the first one's start
    to the last one's end, from its packets' timestamps as ffmpeg lists them (nothing decoded:
    0.2 s for 10 minutes of 720p); (0, 0.0) where it finds none."""
    cmd = [ffmpeg_exe(), "-v", "error", "-i", media_path(path), "-map", "0:v:0", "-c", "copy"]
    log = subprocess.run([*cmd, "-f", "framecrc", "-"], capture_output=True).stdout
    lines = log.decode(errors="replace").splitlines()
    # "#tb 0: 1/1000", then a line a packet: "stream, dts, pts, duration, size, checksum[, flags]"
    tb = [x.split(":")[1].split("/") for x in lines if x.startswith("#tb 0:")]
    packets = np.array([x.split(",")[1:5] for x in lines if x[:1].isdigit()], np.int64).reshape(-1, 4)
    packets = packets[packets[:, 3] > 0]  # not an AVI's empty entries, which hold a dropped frame's place
    unknown = np.iinfo(np.int64).min
    at = np.where(packets[:, 1] != unknown, packets[:, 1], packets[:, 0])  # pts, else (AVI) dts
    timed = at != unknown
    if not tb or not timed.any():
        return 0, 0.0
    end, start = (at + packets[:, 2])[timed].max(), at[timed].min()
    return len(packets), float(end - start) * int(tb[0][0]) / int(tb[0][1])


def track_video(
    path: Path,
    tracker: FaceMeshTracker | None = None,
    span: tuple[float, float] | None = None,
    shown: bool = False,
    report: Callable[[int, int], None] | None = None,
) -> Track:
    """Track every 25 fps frame of `path` (the source frame nearest in time), or of its part from
    span[0] to span[1] seconds (an end past the video's is its end); gaps of <= MAX_GAP
    interpolated. `shown`: a progress bar of its own; `report(total, done)`: the frames to track
    (negative: those left when it stops short) and those tracked, a second's worth at a time (prep
    draws them under its clips' bar)."""
    path = Path(path)
    cap, src_fps, n_src = open_video(path)
    length = n_src / src_fps  # seconds
    start, end = span or (0.0, length)
    if start >= length:
        cap.release()
        raise TalkfaceError(
            f"{path}: the part {clock(start)}-{clock(end)} begins after the video ends ({clock(length)})"
        )
    t_out = round((min(end, length) - start) * FPS)
    tracker = tracker or FaceMeshTracker()
    tracker.reset()
    pts = np.zeros((t_out, 68, 3), np.float32)  # the mesh's 468 would be 0.5 GB an hour, twice
    found, still, starts = (np.zeros(t_out, bool) for _ in range(3))
    size, before, box, cut = (0, 0), None, None, False
    report = report or (lambda total, done: None)
    report(t_out, 0)
    reported = 0  # frames
    try:
        with progress(disable=not shown) as bar:
            job = bar.add_task(f"track {path.name}", total=t_out, unit="frame")
            for t, frame in enumerate(frames_at_25fps(cap, path, src_fps, n_src, t_out, start)):
                size, small = (frame.shape[1], frame.shape[0]), thumbnail(frame)
                if before is not None and content_change(before[1], small) >= SHOT_CHANGE:
                    tracker.reset()  # a new shot: detect afresh, not follow the old face's place
                    cut = True
                p = tracker(np.ascontiguousarray(frame[:, :, ::-1]))
                if p is not None:
                    new = face_box(p, size)
                    starts[t] = box is not None and (cut or iou(box, new) < SAME_FACE)
                    pts[t], found[t], box, cut = p[MESH_TO_IBUG68], True, new, False
                still[t] = before is not None and box is not None and unchanged(before[0], frame, box)
                before = frame, small
                bar.advance(job)
                if t + 1 - reported == FPS or t + 1 == t_out:
                    report(0, t + 1 - reported)
                    reported = t + 1
    finally:
        cap.release()
        if reported < t_out:  # stopped short (a truncated video): its frames left, taken off
            report(reported - t_out, 0)
    if not found.any():
        raise TalkfaceError(f"{path}: no face found in any frame")
    return Track(interpolate_gaps(pts, found), found, still, starts, size, float(src_fps))


def face_box(points: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the pixels the (N, 2+) landmarks span, inside a frame of `size` (w, h)."""
    lo = np.clip(np.floor(points[:, :2].min(0)), 0, size).astype(int)
    hi = np.clip(np.ceil(points[:, :2].max(0)) + 1, 0, size).astype(int)
    return int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1])


def unchanged(before: np.ndarray, frame: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Whether the (H, W, 3) BGR frames show the same picture in `box`: a mean grey-level change
    below STILL_LEVEL (what a frozen or still picture keeps through lossy re-encoding)."""
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return False
    a, b = (cv2.cvtColor(f[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY) for f in (before, frame))
    return cv2.mean(cv2.absdiff(a, b))[0] < STILL_LEVEL  # uint8 |a - b| is exact


def frozen(still: np.ndarray, min_run: int = FROZEN) -> np.ndarray:
    """(T,) bool: the frames of runs of at least `min_run` still frames (a photo over the sound, a
    call's picture frozen while its sound goes on); a frame the picture froze on is not itself
    still, and stays."""
    out = np.zeros(len(still), bool)
    for a, b in runs_of(still):
        out[a:b] = b - a >= min_run
    return out


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """The runs [start, end) of True in a (T,) bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def frames_at_25fps(
    cap: cv2.VideoCapture, path: Path, src_fps: float, n_src: int, t_out: int, start: float = 0.0
):
    """Yield, for each output time start + t/25 s, the source frame nearest to it by the decoder's
    timestamps, so a variable-frame-rate video (phone, screen or call recordings) stays in step with
    its audio where frame index / average rate would drift. A source frame shown for longer than
    HELD (a call's frozen picture, a stalled camera) is held until the next one, as a player shows
    it: the nearest would show the next picture up to half the stall early. Frames before `start`
    are decoded and passed over (seeking lands on key frames, by the average rate)."""
    shown = nxt = None  # (seconds, frame): the last frame at or before the time, and the one read ahead
    decoded = 0
    for t in range(t_out):
        now = start + t / FPS
        while True:
            if nxt is None:
                ok, img = cap.read()
                if not ok:
                    break
                nxt, decoded = (cap.get(cv2.CAP_PROP_POS_MSEC) / 1000, img), decoded + 1
            if shown is not None and nxt[0] > now:
                break
            shown, nxt = nxt, None
        # The stream ended early: fewer frames than its header says, and none near this time.
        if shown is None or (nxt is None and decoded < n_src and decoded < now * src_fps - 1):
            raise TalkfaceError(f"{path}: truncated or corrupt video (decoded {decoded} of {n_src} frames)")
        ahead = nxt is not None and nxt[0] - now < now - shown[0] and nxt[0] - shown[0] <= HELD
        yield nxt[1] if ahead else shown[1]


def interpolate_gaps(pts: np.ndarray, found: np.ndarray, max_gap: int = MAX_GAP) -> np.ndarray:
    """Fill runs of missed frames no longer than `max_gap` (and the clip's ends, by holding)."""
    out = pts.copy()
    idx = np.flatnonzero(found)
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= max_gap + 1:
            w = ((np.arange(a + 1, b) - a) / (b - a))[:, None, None]
            out[a + 1 : b] = (1 - w) * pts[a] + w * pts[b]
    out[: idx[0]] = pts[idx[0]]
    out[idx[-1] + 1 :] = pts[idx[-1]]
    return out


def filled(found: np.ndarray, max_gap: int = MAX_GAP) -> np.ndarray:
    """Frames that have landmarks after interpolation (found, short gaps, held ends)."""
    ok = found.copy()
    idx = np.flatnonzero(found)
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= max_gap + 1:
            ok[a + 1 : b] = True
    if len(idx):
        ok[: idx[0]] = idx[0] <= max_gap
        ok[idx[-1] + 1 :] = len(found) - 1 - idx[-1] <= max_gap
    return ok


def face_runs(
    found: np.ndarray, starts: np.ndarray | None = None, max_gap: int = MAX_GAP
) -> list[tuple[int, int]]:
    """The stretches [start, end) of frames with landmarks after interpolation (`filled`): a face
    missed for more than `max_gap` frames (a cutaway, the head turned away, a hand over it) ends
    one, as do such misses at the ends, and a face that `starts` (T,) a new track (another shot,
    another face) begins one; the frames interpolated across such a start, between two faces, are
    in neither. [(0, T)] when the face is never missed for long and never changes."""
    out = []
    for a, b in runs_of(filled(found, max_gap)):
        for s in np.flatnonzero(starts[a + 1 : b]) + a + 1 if starts is not None else []:
            seen = np.flatnonzero(found[a:s])
            if len(seen):
                out.append((a, a + int(seen[-1]) + 1))
            a = int(s)
        out.append((a, b))
    return out


def clock(seconds: float) -> str:
    """A time as HDTF's annotations write it: mm:ss ("01:30"; "01:30.5" where it has tenths)."""
    m, sec = divmod(round(float(seconds), 1), 60)
    return f"{int(m):02d}:{sec:02.0f}" if sec.is_integer() else f"{int(m):02d}:{sec:04.1f}"
