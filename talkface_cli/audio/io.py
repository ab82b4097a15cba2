"""Load any audio file (wav/flac/ogg/mp3 through libsndfile, anything else such as m4a through the
bundled ffmpeg, and the audio of a video) as 16 kHz mono float32; write wav."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ..errors import NoAudio, TalkfaceError, require_file
from ..ui import progress
from .riff import dialogue_channel, unfinished_wav

SAMPLE_RATE = 16000
# Containers that may hold a picture: today's, and the older and camera ones corpora ship in
# (CREMA-D's Flash .flv, GRID's MPEG-1 .mpg, a camcorder's AVCHD .mts / .m2ts, Windows' .wmv, a
# phone's .3gp), a broadcast or cinema camera's MXF, a DVD's .vob, Ogg's .ogv, a DV camcorder's
# raw .dv (dvgrab, older capture tools). A file of these without a picture is speech (`is_video`).
VIDEO_SUFFIXES = set(
    ".mp4 .mov .mkv .avi .webm .m4v .flv .f4v .mpg .mpeg .mts .m2ts .ts .wmv .3gp .mxf .vob .ogv .dv".split()
)
SILENT_TRACK_DB = -70.0  # mean power (dBFS) under which a decoded track counts as silent
BLOCK = 1 << 18  # frames read at a time (5.5 s at 48 kHz)
LONG_AUDIO = 120.0  # s of audio from which `load_audio(shown=True)` shows bars (as `animate`'s)
# showinfo's line for the first decoded frame: "[Parsed_ashowinfo_0 @ 0x..] n:0 pts:19200 pts_time:0.4 ..."
_FIRST_FRAME = re.compile(r"showinfo_\d+ @ [^\]]*\]\s+n:\s*0\s+pts:\s*-?\d+\s+pts_time:(-?[0-9.e+-]+)")


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def media_path(path: Path) -> str:
    """A file's path as ffmpeg and OpenCV are given it: absolute, so that a name such as
    "take:1.webm" is not read as the URL of a protocol "take" (relative, it was refused as
    "Protocol not found")."""
    return os.path.abspath(path)


def sound_path(path: Path) -> str | bytes:
    """A file's path as libsndfile is given it: its bytes on POSIX, so that a name that is not
    UTF-8 (an old archive's Latin-1 "caf\xe9.wav") opens; soundfile encodes a str strictly."""
    return str(path) if os.name == "nt" else os.fsencode(path)


def load_audio(path: Path, sr: int = SAMPLE_RATE, shown: bool = False) -> np.ndarray:
    """(N,) float32 mono at `sr` (channels mixed by `mix_weights`), other rates resampled (soxr,
    high quality). Read in blocks, so an hour of 48 kHz stereo is never held at its own rate and
    width (it was: 4.7 GiB to load a 1-hour wav). `shown`: progress bars for LONG_AUDIO or more
    (an hour of wav took 8 s to read, and what ffmpeg decodes 6 s more, before any other bar)."""
    path = require_file(path)
    video = path.suffix.lower() in VIDEO_SUFFIXES
    unfinished = not video and unfinished_wav(path)  # read to its end by ffmpeg
    if not video and not unfinished:
        try:
            with sf.SoundFile(sound_path(path)) as f:
                return _mono_shown(f, sr, path, shown)
        except (sf.LibsndfileError, RuntimeError):  # a format libsndfile lacks: m4a/aac, wma, ...
            pass
    failure = "no audio track could be decoded" if video else "not a readable audio file"
    options = ("-ignore_length", "1") if unfinished else ()
    with _speech_track(path, sr, failure, options, shown) as f:
        return _mono_shown(f, sr, path, shown)


@contextmanager
def _bar(shown: bool, seconds: float, what: str, passes: int = 1) -> Iterator[Callable[[float], object]]:
    """`advance(seconds)` of a bar of `passes` over `seconds` of audio, counted in 25 fps frames (as
    `animate`'s other bars count), when `shown` and the audio runs LONG_AUDIO or more; else one
    that does nothing."""
    if not shown or seconds < LONG_AUDIO:
        yield lambda _: None
        return
    total = round(passes * seconds * 25)
    with progress() as bar:
        task = bar.add_task(what, total=total, unit="frame")
        yield lambda s: bar.advance(task, s * 25)
        bar.update(task, completed=total)  # done: the sum of its steps' rounding, or ffmpeg's last
        # report short of the container's duration, left it at 99.9%


def _mono_shown(f: sf.SoundFile, sr: int, path: Path, shown: bool) -> np.ndarray:
    """`mono` under a bar of its two passes (`_bar`)."""
    with _bar(shown, f.frames / f.samplerate, f"read {path.name}", passes=2) as advance:
        return mono(f, sr, path, lambda n: advance(n / f.samplerate))


def blocks(f: sf.SoundFile) -> Iterator[np.ndarray]:
    """A sound file's frames from its start, (n, C) float32 blocks of up to BLOCK. Not
    `SoundFile.blocks`: it yields as many frames as the header promised, and an mp3 without a
    Xing header (as ffmpeg writes one to a pipe) promises more than it holds: the rest of its
    last block was uninitialised memory (NaN at times)."""
    f.seek(0)
    while len(b := f.read(BLOCK, dtype="float32", always_2d=True)):
        yield b


def mono(
    f: sf.SoundFile, sr: int, path: Path, advance: Callable[[int], object] = lambda _: None
) -> np.ndarray:
    """(N,) float32 at `sr` of an open sound file, in two passes over its blocks: the channels'
    powers and cross terms (which decide the mix, `mix_weights`) and a check that every sample is
    finite, then the mix, resampled as a stream (the same samples as at once). `advance(n)` is
    told the n frames of each block read, in both passes."""
    gram, frames, bad, first = np.zeros((f.channels, f.channels)), 0, 0, 0
    for b in blocks(f):
        advance(len(b))
        finite = np.isfinite(b).all(1)
        if not finite.all():  # a float file from a failed synthesis or effect
            first = first if bad else frames + int(np.argmin(finite))
            bad += int(len(b) - finite.sum())
        elif not bad:
            gram += b.T.astype(np.float64) @ b
        frames += len(b)
    if frames == 0:
        raise TalkfaceError(f"{path}: the audio is empty")
    if bad:
        raise TalkfaceError(
            f"{path}: {bad} sample(s) NaN or infinite, the first at {first / f.samplerate:.2f} s"
        )
    weights = mix_weights(gram / frames, dialogue_channel(f.name, f.channels)).astype(np.float32)
    return resampled((advance(len(b)) or b @ weights for b in blocks(f)), f.samplerate, sr)


def resampled(chunks: Iterable[np.ndarray], rate: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The (n,) chunks of one signal at `rate` joined and resampled to `sr` (float32)."""
    if rate == sr:
        return np.concatenate([np.zeros(0, np.float32), *chunks]).astype(np.float32, copy=False)
    stream = soxr.ResampleStream(rate, sr, 1, dtype="float32", quality="HQ")
    out = [stream.resample_chunk(np.ascontiguousarray(c, np.float32)) for c in chunks]
    return np.concatenate([*out, stream.resample_chunk(np.zeros(0, np.float32), last=True)])


def conformed(data: np.ndarray, rate: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """(N,) or (N, C) samples at `rate` (floats, or integers at full scale: int16 / 32768 as
    libsndfile reads them) -> (N,) float32 mono at `sr`."""
    data = np.asarray(data)
    if data.dtype.kind in "iu":  # unsigned: 8-bit, centred on 128
        info = np.iinfo(data.dtype)
        data = (data.astype(np.float64) - (info.min + info.max + 1) / 2) / ((info.max - info.min + 1) / 2)
    return resampled([to_mono(data.astype(np.float32).reshape(len(data), -1))], rate, sr)


def to_mono(data: np.ndarray) -> np.ndarray:
    """(N, C) float32 -> (N,), mixed by `mix_weights`."""
    if data.shape[1] == 1:
        return data[:, 0]
    return data @ mix_weights((data.T @ data).astype(np.float64) / max(1, len(data))).astype(np.float32)


def mix_weights(gram: np.ndarray, dialogue: int | None = None) -> np.ndarray:
    """(C,) weights that mix C channels to mono, from their (C, C) mean products (powers on the
    diagonal): the mean of the channels that carry sound. A channel 20 dB under the loudest (a
    camera's unused second input) is left out rather than halving the level; channels that cancel
    when added (one wired with inverted polarity: the plain mean of such a stereo file is silence)
    give way to the loudest one. `dialogue`: a surround mix's centre channel, taken alone where it
    carries sound (the others hold a film's music, effects and ambience)."""
    power = np.diag(gram)
    live = power >= 0.01 * power.max()
    weights = np.zeros(len(power))
    if dialogue is not None and live[dialogue]:
        weights[dialogue] = 1.0
    # the mix lost over 3 dB beyond channels that do not cancel at all (uncorrelated: their mean keeps
    # 1/n of their power), 6 dB for stereo; against 6 dB for any n, 5.1's mean always "lost" it (7.8)
    elif gram[np.ix_(live, live)].sum() / live.sum() ** 2 < 0.5 * power[live].mean() / live.sum():
        weights[int(power.argmax())] = 1.0
    else:
        weights[live] = 1.0 / live.sum()
    return weights


@contextmanager
def _speech_track(
    path: Path, sr: int, failure: str, options: tuple[str, ...] = (), shown: bool = False
) -> Iterator[sf.SoundFile]:
    """The audio track a player would play, unless it is silent and the file has others: then
    the loudest of them (a screen recorder's first track often holds the computer's silent sound,
    the microphone the second); decoded by ffmpeg at `sr` into a temporary file (held in memory,
    an hour of stereo was 0.46 GB beside what is made of it) and opened. `options`: the input's;
    `shown`: a bar of the decoding (`_bar`)."""
    with tempfile.TemporaryDirectory(prefix="talkface-audio-") as folder:
        with _bar(shown, _duration(path) if shown else 0.0, f"decode {path.name}") as advance:
            wav = _decode_with_ffmpeg(path, sr, failure, Path(folder) / "default.wav", None, options, advance)
        if _power_db(wav) <= SILENT_TRACK_DB and (n := sum("Audio:" in x for x in _stream_lines(path))) > 1:
            for k in range(n):
                other = _decode_with_ffmpeg(path, sr, failure, Path(folder) / f"{k}.wav", track=k)
                wav = max(wav, other, key=_power_db)
        with sf.SoundFile(sound_path(wav)) as f:
            yield f


def _power_db(wav: Path) -> float:
    """Mean power of a WAV's samples in dBFS (-200 for digital silence or no samples)."""
    with sf.SoundFile(sound_path(wav)) as f:
        total = sum(float(np.square(b, dtype=np.float64).sum()) for b in blocks(f))
        n = f.frames * f.channels
    return 10 * np.log10(total / n + 1e-20) if n else -200.0


def _decode_with_ffmpeg(
    path: Path,
    sr: int,
    failure: str,
    wav: Path,
    track: int | None = None,
    options: tuple[str, ...] = (),
    advance: Callable[[float], object] = lambda _: None,
) -> Path:
    """`wav`, written as a float WAV at `sr` of every channel as it is (ffmpeg's own down- and
    up-mixes change the level by 3 dB; RF64 past 4 GB); `track`: the k-th audio stream (default:
    ffmpeg's choice, the one a player would play); `options`: the input's; `advance(seconds)` told
    the seconds decoded as ffmpeg reports them."""
    pick = [] if track is None else ["-map", f"0:a:{track}"]
    cmd = [ffmpeg_exe(), "-v", "error", "-nostats", "-progress", "pipe:1", *options, "-i", media_path(path)]
    cmd += [*pick, "-vn", "-ar", str(sr), "-c:a", "pcm_f32le", "-rf64", "auto", "-f", "wav", "-y", str(wav)]
    with tempfile.TemporaryFile() as err:  # a file: a pipe's buffer, filled by a long log, would stall ffmpeg
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err) as proc:
            done = 0.0
            for line in proc.stdout:  # "out_time_us=1200000" every half second, among other keys
                if line.startswith(b"out_time_us=") and line[12:].strip().isdigit():
                    now = int(line[12:]) / 1e6
                    advance(max(0.0, now - done))
                    done = max(done, now)
        err.seek(0)
        log = err.read().decode(errors="replace")
    written = wav.is_file() and wav.stat().st_size > 0
    if proc.returncode != 0 or not written:
        if not written and ("does not contain any stream" in log or proc.returncode == 0):
            raise NoAudio(path)
        why = log.strip().splitlines()
        raise TalkfaceError(f"{path}: {failure} ({why[-1] if why else 'ffmpeg failed'})")
    return wav


def _stream_lines(path: Path) -> list[str]:
    """ffmpeg's description of a media file's streams, a line each ("Stream #0:1...: Audio: ...")."""
    return [line for line in _description(path).splitlines() if "Stream #" in line]


def _description(path: Path) -> str:
    """What `ffmpeg -i` says of a media file (its container, duration and streams). Kept per file as
    it is (its size and time of change), as `_first_frame_log` is: a reference is asked whether it
    is a video, then for its duration when read, then for its tracks if silent. "" for no file."""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return _description_of(media_path(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _description_of(name: str, size: int, changed_ns: int) -> str:
    log = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", name], capture_output=True).stderr
    return log.decode(errors="replace")


def _duration(path: Path) -> float:
    """A media file's duration in seconds as its container states it; 0 where it states none (a
    browser's WebM, a stream)."""
    found = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", _description(path))
    return 0.0 if found is None else 3600 * int(found[1]) + 60 * int(found[2]) + float(found[3])


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


def interlaced(video: Path) -> bool:
    """Whether the first frame of a video's picture is interlaced (its two fields taken at two
    times: camcorders' AVCHD, DV, broadcast 1080i), as ffmpeg's decoder flags it."""
    return re.search(r"\si:[TB]\s", _first_frame_log(video, "v")) is not None


def _first_frame_log(video: Path, stream: str) -> str:
    """(a)showinfo's log of the first decoded frame of the first `stream` ("v" or "a"), without
    renumbering timestamps (one stream per ffmpeg run, so no other thread's log line can interleave).
    Kept per file as it is (its size and time of change): `prep` reads a video's first frame for
    its sound's delay, then opens it twice (to fail fast, to track), each asking if it is interlaced."""
    st = os.stat(video)
    return _first_frame_log_of(media_path(video), stream, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _first_frame_log_of(name: str, stream: str, size: int, changed_ns: int) -> str:
    info = "showinfo" if stream == "v" else "ashowinfo"
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-copyts", "-i", name]
    cmd += ["-map", f"0:{stream}:0", f"-frames:{stream}", "1", f"-{stream}f", info, "-f", "null", "-"]
    return subprocess.run(cmd, capture_output=True).stderr.decode(errors="replace")


def _first_frame_time(video: Path, stream: str) -> float:
    """pts_time of the first decoded frame of the first `stream` ("v" or "a")."""
    found = _FIRST_FRAME.search(_first_frame_log(video, stream))
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
    sf.write(sound_path(path), np.asarray(audio, dtype=np.float32), sr, subtype="PCM_16")
