"""Load any audio file (wav/flac/ogg/mp3 through libsndfile, anything else such as m4a through the
bundled ffmpeg, and the audio of a video) as 16 kHz mono float32; write wav."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ..errors import NoAudio, TalkfaceError, require_file

SAMPLE_RATE = 16000
# Containers that may hold a picture: today's, and the older and camera ones corpora ship in
# (CREMA-D's Flash .flv, GRID's MPEG-1 .mpg, a camcorder's AVCHD .mts / .m2ts, Windows' .wmv, a
# phone's .3gp). A file of these without a picture is speech (`is_video`).
VIDEO_SUFFIXES = set(".mp4 .mov .mkv .avi .webm .m4v .flv .f4v .mpg .mpeg .mts .m2ts .ts .wmv .3gp".split())
SILENT_TRACK_DB = -70.0  # mean power (dBFS) under which a decoded track counts as silent
# showinfo's line for the first decoded frame: "[Parsed_ashowinfo_0 @ 0x..] n:0 pts:19200 pts_time:0.4 ..."
_FIRST_FRAME = re.compile(r"showinfo_\d+ @ [^\]]*\]\s+n:\s*0\s+pts:\s*-?\d+\s+pts_time:(-?[0-9.e+-]+)")


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def load_audio(path: Path, sr: int = SAMPLE_RATE) -> np.ndarray:
    """(N,) float32 mono at `sr` (channels mixed by `to_mono`), other rates resampled (soxr, high
    quality)."""
    path = require_file(path)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        data, rate = _speech_track(path, sr, "no audio track could be decoded")
    else:
        try:
            data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError):  # a format libsndfile lacks: m4a/aac, wma, ...
            data, rate = _speech_track(path, sr, "not a readable audio file")
    if len(data) == 0:
        raise TalkfaceError(f"{path}: the audio is empty")
    if not np.isfinite(data).all():  # a float file from a failed synthesis or effect
        bad = np.flatnonzero(~np.isfinite(data).all(1))
        raise TalkfaceError(
            f"{path}: {len(bad)} sample(s) NaN or infinite, the first at {bad[0] / rate:.2f} s"
        )
    return conformed(data, rate, sr)


def conformed(data: np.ndarray, rate: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """(N,) or (N, C) samples at `rate` (floats, or integers at full scale: int16 / 32768 as
    libsndfile reads them) -> (N,) float32 mono at `sr`."""
    data = np.asarray(data)
    if data.dtype.kind in "iu":  # unsigned: 8-bit, centred on 128
        info = np.iinfo(data.dtype)
        data = (data.astype(np.float64) - (info.min + info.max + 1) / 2) / ((info.max - info.min + 1) / 2)
    data = data.astype(np.float32).reshape(len(data), -1)
    mono = to_mono(data)
    if rate != sr:
        mono = soxr.resample(mono, rate, sr, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)


def to_mono(data: np.ndarray) -> np.ndarray:
    """(N, C) -> (N,): the mean of the channels that carry sound. A channel 20 dB under the loudest
    (a camera's unused second input) is left out rather than halving the level; channels that
    cancel when added (one wired with inverted polarity: the plain mean of such a stereo file is
    silence) give way to the loudest one."""
    if data.shape[1] == 1:
        return data[:, 0]
    gram = (data.T @ data).astype(np.float64) / len(data)  # (C, C): channel powers, cross terms
    power = np.diag(gram)
    live = power >= 0.01 * power.max()
    if gram[np.ix_(live, live)].sum() / live.sum() ** 2 < 0.25 * power[live].mean():  # lost over 6 dB
        return data[:, int(power.argmax())]
    return data[:, live].mean(axis=1)


def _speech_track(path: Path, sr: int, failure: str) -> tuple[np.ndarray, int]:
    """The audio track a player would play, unless it is silent and the file has others: then
    the loudest of them (a screen recorder's first track often holds the computer's silent sound,
    the microphone the second)."""
    data, rate = _decode_with_ffmpeg(path, sr, failure)
    if _power_db(data) > SILENT_TRACK_DB:
        return data, rate
    tracks = sum("Audio:" in line for line in _stream_lines(path))
    if tracks < 2:
        return data, rate
    decoded = [_decode_with_ffmpeg(path, sr, failure, track=k) for k in range(tracks)]
    return max(decoded, key=lambda d: _power_db(d[0]))


def _power_db(data: np.ndarray) -> float:
    """Mean power of (N, C) audio in dBFS (-200 for digital silence or no samples)."""
    return 10 * float(np.log10(np.mean(np.square(data, dtype=np.float64)) + 1e-20)) if data.size else -200.0


def _decode_with_ffmpeg(
    path: Path, sr: int, failure: str, track: int | None = None
) -> tuple[np.ndarray, int]:
    """(N, C) float32 at `sr` and `sr`, every channel as it is (ffmpeg's own down- and up-mixes
    change the level by 3 dB), as a WAV stream read by libsndfile; `track`: the k-th audio stream
    (default: ffmpeg's choice, the one a player would play)."""
    pick = [] if track is None else ["-map", f"0:a:{track}"]
    cmd = [ffmpeg_exe(), "-v", "error", "-i", str(path), *pick, "-vn", "-ar", str(sr)]
    out = subprocess.run([*cmd, "-c:a", "pcm_f32le", "-f", "wav", "-"], capture_output=True)
    if out.returncode != 0 or not out.stdout:
        log = out.stderr.decode(errors="replace")
        if not out.stdout and ("does not contain any stream" in log or out.returncode == 0):
            raise NoAudio(path)
        why = log.strip().splitlines()
        raise TalkfaceError(f"{path}: {failure} ({why[-1] if why else 'ffmpeg failed'})")
    return sf.read(io.BytesIO(out.stdout), dtype="float32", always_2d=True)


def _stream_lines(path: Path) -> list[str]:
    """ffmpeg's description of a media file's streams, a line each ("Stream #0:1...: Audio: ...")."""
    log = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True).stderr
    return [line for line in log.decode(errors="replace").splitlines() if "Stream #" in line]


def is_video(path: Path) -> bool:
    """A video to track: a video suffix and a video stream other than cover art. A voice
    recorder's or a downloader's audio-only .mp4 / .webm holds none, and is speech."""
    lines = _stream_lines(path) if Path(path).suffix.lower() in VIDEO_SUFFIXES else []
    return any("Video:" in line and "(attached pic)" not in line for line in lines)


def audio_delay(video: Path) -> float:
    """Seconds by which a video's sound starts after its picture (negative: before), read from the
    first decoded frame of each on the container's clock, as a player would line them up. Frame
    timestamps count from the picture's start and decoded audio from its own, so the audio of a
    tracked video is shifted by this: a clip cut with `-ss` after `-i` and `-c copy` starts its
    picture at the next keyframe, up to seconds after its sound."""
    return _first_frame_time(video, "a") - _first_frame_time(video, "v")


def _first_frame_time(video: Path, stream: str) -> float:
    """pts_time of the first decoded frame of the first `stream` ("v" or "a"), without renumbering
    timestamps (one stream per ffmpeg run, so no other thread's log line can interleave)."""
    info = "showinfo" if stream == "v" else "ashowinfo"
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-copyts", "-i", str(video), "-map", f"0:{stream}:0"]
    cmd += [f"-frames:{stream}", "1", f"-{stream}f", info, "-f", "null", "-"]
    log = subprocess.run(cmd, capture_output=True).stderr.decode(errors="replace")
    found = _FIRST_FRAME.search(log)
    if found is None:
        what = "picture" if stream == "v" else "sound"
        raise TalkfaceError(f"{video}: could not read when its {what} starts")
    return float(found.group(1))


def delayed(audio: np.ndarray, seconds: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """(N,) -> audio that starts `seconds` later: silence put before it, or its start cut off when
    negative."""
    n = round(seconds * sr)
    return np.concatenate([np.zeros(n, audio.dtype), audio]) if n >= 0 else audio[-n:]


def write_wav(path: Path, audio: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    sf.write(str(path), np.asarray(audio, dtype=np.float32), sr, subtype="PCM_16")
