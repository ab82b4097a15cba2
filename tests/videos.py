"""Real video edited as raw video comes: re-encoded by libx264 through an ffmpeg filter graph."""

from __future__ import annotations

import subprocess
from pathlib import Path

from talkface_cli.audio.io import ffmpeg_exe

REAL = "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"  # 3.24 s: 81 frames at 25 fps, 29.97 in


def ffmpeg(source: Path, out: Path, *args: object, before: tuple[str, ...] = ()) -> Path:
    """`out` made by ffmpeg from `source` with `args` (and `before`: options of the input; its
    folder made first)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [ffmpeg_exe(), "-v", "error", *before, "-i", str(source), *map(str, args), str(out)]
    subprocess.run(cmd, check=True)
    return out


def reencoded(real: Path, out: Path, graph: str = "null", crf: int = 23) -> Path:
    """`real` through the filter `graph`, re-encoded at `crf`; its sound copied as it is."""
    return ffmpeg(real, out, "-filter_complex", graph, "-c:v", "libx264", "-crf", crf, "-c:a", "copy")


def blacked(real: Path, out: Path, *spans: tuple[float, float]) -> Path:
    """`real` with its picture black over `spans` (seconds)."""
    boxes = ",".join(
        f"drawbox=enable='between(t,{a},{b})':x=0:y=0:w=iw:h=ih:color=black:t=fill" for a, b in spans
    )
    return reencoded(real, out, boxes or "null")


def frozen_at(real: Path, out: Path, first: int, last: int) -> Path:
    """`real` with its source frames `first`..`last` showing frame `first` (a call's picture frozen
    while its sound goes on; 0..a large number: a photo over the sound)."""
    return reencoded(real, out, f"split[a][b];[a][b]freezeframes=first={first}:last={last}:replace={first}")


def decimated(video: Path, out: Path) -> Path:
    """`video` with each frame that repeats the one before dropped (ffmpeg's mpdecimate): a variable
    frame rate whose frozen picture is one frame held until the next, as call recorders write it."""
    return ffmpeg(video, out, "-vf", "mpdecimate", "-fps_mode", "vfr", "-c:v", "libx264", "-c:a", "copy")


def muted(video: Path, out: Path, start: float, end: float) -> Path:
    """`video` with its sound silent from `start` to `end` seconds, its picture copied as it is."""
    return ffmpeg(video, out, "-af", f"volume=enable='between(t,{start},{end})':volume=0", "-c:v", "copy")


def zoom_cut(real: Path, out: Path, at: float | str) -> Path:
    """`real` cut at `at` seconds to a second camera: the same picture zoomed in 2x on the face
    (0: zoomed throughout; an ffmpeg expression of t: zoomed where it is true)."""
    zoomed = at if isinstance(at, str) else f"gte(t,{at})"
    graph = f"split[a][b];[b]crop=640:360:320:120,scale=1280:720[z];[a][z]overlay=enable='{zoomed}'"
    return reencoded(real, out, graph if at != 0 else "crop=640:360:320:120,scale=1280:720")


def two_faces(real: Path, other: Path, out: Path) -> Path:
    """`real` (right) and `other` (left) side by side, 640x360 each in a 1280x720 frame, with the
    sound of `real`: the left face appears at 1 s, the right is black from 1.5 to 1.62 s (a tracker
    that loses it finds the left one)."""
    graph = (
        "[0:v]scale=640:360[r];[1:v]scale=640:360[l];[l][r]hstack,pad=1280:720:0:180,"
        "drawbox=enable='lt(t,1)':x=0:y=0:w=640:h=720:color=black:t=fill,"
        "drawbox=enable='between(t,1.5,1.62)':x=640:y=0:w=640:h=720:color=black:t=fill"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(real), "-i", str(other), "-filter_complex", graph]
        + ["-t", "3.2", "-map", "0:a", "-c:v", "libx264", "-c:a", "copy", str(out)],
        check=True,
    )
    return out
