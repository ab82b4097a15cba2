"""Content features at 50 Hz (two per 25 fps video frame), and their per-clip cache.

- HuBERT: hidden states of a local HuBERT (a folder saved with `save_pretrained`, or a model id
  already in the Hugging Face cache; never downloaded: HF_HUB_OFFLINE is honoured and
  `local_files_only` is set). HuBERT gives about 49.9 frames/s; they are linearly interpolated
  to exactly 2T frames for T video frames, as the paper does.
- log-mel: the fallback when no HuBERT weights are given: 80 log-mel bands, 25 ms windows,
  20 ms hop (50 Hz), computed with torch.stft and a Slaney-style mel filterbank of our own. As
  content features (`logmel-clean`, the default) the input is first brought to one active speech
  level, as HuBERT normalises its input: log-mel values move with the recording gain, and a model
  trained on the corpus's level moved its lips half as much for RAVDESS, recorded 20 dB quieter.
  Then a steady noise floor measured in the pauses is subtracted: the corpus is clean, and a
  fan or mains hum 20 dB under the speech held the mouth open in the pauses and damped the lips.
  Before all that, what lies below 30 Hz is taken out (`logmel-clean-hp`, the default): no voice
  is there, a DC offset counted as speech in the level, and the synthetic corpus's espeak audio
  has one that grows with its volume, a cue real speech lacks. `logmel-clean` (no rumble step),
  `logmel-level` (no noise step) and `logmel` (no level step) are what models trained before
  read. The EDE's log-mel front is the same `LogMel` without the level step (loudness is a cue of
  emotion there); the tiny preset's has the rumble and noise steps.
Features are cached as `<store>/features/<encoder key>/<clip id>.npy` (under $TALKFACE_HOME/cache/
when the store cannot be written: `data/cache.py`), so training never
recomputes them; the key names the encoder and its weights.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.cache import cache_path, cached_array
from ..errors import TalkfaceError

SR, RATE = 16000, 50  # audio sample rate, feature frames per second
HOP = SR // RATE  # 320


def mel_filterbank(n_mels: int = 80, n_fft: int = 400, sr: int = SR, fmin: float = 0.0, fmax: float = 8000.0):
    """(n_mels, n_fft // 2 + 1) triangular filters on the mel scale (HTK formula), area-normalised."""
    hz_to_mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    mel_to_hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    fb = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        fb[i] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None)
        fb[i] *= 2.0 / (hi - lo)
    return torch.tensor(fb, dtype=torch.float32)


def to_frames(feats: torch.Tensor, frames: int) -> torch.Tensor:
    """Linearly interpolate (N, W) features to (frames, W)."""
    if len(feats) == frames:
        return feats
    return torch.nn.functional.interpolate(feats.T[None], size=frames, mode="linear", align_corners=False)[
        0
    ].T


RUMBLE_HZ = 30.0  # below the voice (which starts near 70 Hz): a DC offset, mic handling, wind
RUMBLE_PAD = SR // 4  # 0.25 s of reflected audio at each end: the filter's response dies out in it


RUMBLE_CHUNK = 1 << 20  # longer audio is filtered in pieces of this many samples (65 s) ...
RUMBLE_CONTEXT = SR  # ... each with 1 s of its neighbours either side (the response is e^-133 by then)


def rumble_removed(audio: torch.Tensor) -> torch.Tensor:
    """(N,) audio without what lies below 30 Hz: the zero-phase response of a 2nd-order Butterworth
    high-pass run forwards and backwards (as scipy's sosfiltfilt, ends extended by odd reflection
    as there), applied in the frequency domain on the audio's device. A DC offset of 0.05 counted
    as speech in the level and shrank the lips' motion to 0.58x; digital silence stays silent.
    Long audio goes in overlapping pieces, so memory stays bounded (an hour's FFT in float64 took
    2 GB)."""
    if len(audio) <= RUMBLE_CHUNK + 2 * RUMBLE_CONTEXT:
        return _rumble_removed_whole(audio)
    out = torch.empty_like(audio)
    for start, piece in rumble_removed_pieces(audio, RUMBLE_CHUNK):
        out[start : start + len(piece)] = piece
    return out


def rumble_removed_pieces(audio: torch.Tensor, chunk: int) -> Iterator[tuple[int, torch.Tensor]]:
    """`rumble_removed(audio)` as (start, piece) of `chunk` samples at a time (the whole when it
    is not much longer), each filtered with RUMBLE_CONTEXT of its neighbours either side."""
    n = len(audio)
    if n <= chunk + 2 * RUMBLE_CONTEXT:
        yield 0, _rumble_removed_whole(audio)
        return
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        a0, a1 = max(0, start - RUMBLE_CONTEXT), min(n, stop + RUMBLE_CONTEXT)
        yield start, _rumble_removed_whole(audio[a0:a1])[start - a0 : stop - a0]


def rumble_removed_power(audio: torch.Tensor) -> torch.Tensor:
    """`frame_power(rumble_removed(audio))`, the filtered audio never held whole: pieces of whole
    20 ms frames (an hour's filtered copy was another 0.2 GB, in float64 parts beside it)."""
    pieces = rumble_removed_pieces(audio, RUMBLE_CHUNK // HOP * HOP)
    return torch.cat([frame_power(piece) for _, piece in pieces])


def _rumble_removed_whole(audio: torch.Tensor) -> torch.Tensor:
    n = len(audio)
    if n < 2:
        return audio
    p = min(RUMBLE_PAD, n - 1)
    x = audio.double()
    x = torch.cat([2 * x[:1] - x[1 : p + 1].flip(0), x, 2 * x[-1:] - x[-p - 1 : -1].flip(0)])
    half = torch.tan(torch.pi * torch.fft.rfftfreq(len(x), device=x.device, dtype=x.dtype))  # tan(w / 2)
    gain = half**4 / (half**4 + math.tan(math.pi * RUMBLE_HZ / SR) ** 4)  # |H|^2, bilinear Butterworth
    return torch.fft.irfft(torch.fft.rfft(x) * gain, len(x))[p : p + n].to(audio.dtype)


LEVEL_DB = -18.0  # active speech level content audio is brought to (the synthetic corpus's median)
MAX_GAIN_DB = 45.0  # at most this much louder (RAVDESS files reach -60 dBFS; digital silence stays silent)


def frame_power(audio: torch.Tensor) -> torch.Tensor:
    """(N,) -> mean power (float64) of each whole 20 ms frame (n,) (a part frame at the end is left
    out; audio shorter than a frame is zero-padded to one)."""
    n = max(1, len(audio) // HOP)
    x = audio[: n * HOP] if len(audio) >= HOP else torch.nn.functional.pad(audio, (0, HOP - len(audio)))
    blocks = x.reshape(n, HOP).split(1 << 12)  # in double, 80 s at a time: an hour whole took 1 GB
    return torch.cat([b.double().pow(2).mean(1) for b in blocks]) + 1e-12


def speech_frames(power: torch.Tensor, span: float = 30.0) -> torch.Tensor:
    """Frames (n,) bool whose power lies within `span` dB of the loudest (its 99th percentile, so a
    click does not set it): speech, as in ITU-T P.56's active level but with a fixed threshold below
    the peak instead of its adaptive one."""
    db = 10 * power.log10()
    return db >= torch.quantile(db, 0.99) - span


def active_level_db(audio: torch.Tensor) -> torch.Tensor:
    """Active speech level of (N,) audio in dBFS: the mean power of its speech frames."""
    return power_level_db(frame_power(audio))


def power_level_db(power: torch.Tensor) -> torch.Tensor:
    """Active speech level in dBFS of audio whose 20 ms frames have mean power (n,)."""
    return 10 * power[speech_frames(power)].mean().log10()


def level_range(audios: list[np.ndarray]) -> list[float]:
    """[5th, 95th] percentile of the active speech levels (dBFS) of some clips' audio."""
    return [round(float(v), 1) for v in np.percentile([speech_level_db(a) for a in audios], [5, 95])]


def speech_level_db(audio: np.ndarray) -> float:
    """Active speech level (dBFS) of (N,) audio, what lies below 30 Hz left out (a DC offset is no
    speech): what `animate` compares with the levels an EDE was trained on."""
    return float(power_level_db(rumble_removed_power(torch.from_numpy(np.asarray(audio, np.float32)))))


def level_normalised(audio: torch.Tensor) -> torch.Tensor:
    """(N,) audio scaled to an active level of LEVEL_DB (gain at most +MAX_GAIN_DB)."""
    gain_db = (LEVEL_DB - active_level_db(audio)).clamp(max=MAX_GAIN_DB)
    return audio * (10 ** (gain_db / 20)).to(audio.dtype)


PAUSE_FRAMES = 8  # a pause: at least this many 20 ms frames (160 ms; closures in speech are shorter)
PAUSE_DB = 3.0  # ... each within this many dB of the 15th-percentile frame power
OVER, FLOOR = 3.0, 0.01  # spectral subtraction: over-subtraction factor, floor (of the noise power)


def runs_of(mask: torch.Tensor, length: int) -> torch.Tensor:
    """(N,) bool -> (N,) bool: the True frames that lie in runs of at least `length`."""
    edges = torch.diff(torch.nn.functional.pad(mask.int(), (1, 1)))
    out = torch.zeros_like(mask)
    for a, b in zip(torch.where(edges == 1)[0].tolist(), torch.where(edges == -1)[0].tolist()):
        out[a:b] = b - a >= length
    return out


def steady_noise_removed(mel: torch.Tensor) -> torch.Tensor:
    """(M, N) mel power (bands x frames) -> (M, N) with a steady noise floor (fan, hiss, mains
    hum) taken out by spectral subtraction (Berouti et al. 1979: max(P - a N, b N), a=3, b=0.01).
    N, per band, is the mean power in the pauses (runs of >= 160 ms within 3 dB of the quietest
    frames), capped at the band's 10th percentile over all frames, so that quiet speech taken for
    a pause (tightly trimmed clean speech) is barely touched. Without a pause: unchanged.
    Digital silence (zero padding of a training window) takes no part in the estimate."""
    db = 10 * (mel.sum(0) + 1e-12).log10()  # (N,)
    live = db > -100.0  # white noise at -125 dBFS sums to about -100 here; digital silence to -120
    if int(live.sum()) < PAUSE_FRAMES:
        return mel
    pause = runs_of(live & (db <= torch.quantile(db[live], 0.15) + PAUSE_DB), PAUSE_FRAMES)
    if not pause.any():
        return mel
    floor = torch.quantile(mel[:, live], 0.1, dim=1, keepdim=True)
    noise = torch.minimum(mel[:, pause].mean(1, keepdim=True), floor)  # (M, 1)
    return torch.maximum(mel - OVER * noise, FLOOR * noise)


# names the features in the cache (those already cached keep theirs); (level, denoise) -> key,
# "-hp" appended when the rumble is removed first
LOGMEL_KEYS = {
    (False, False): "logmel80",
    (True, False): "logmel80-level",
    (True, True): "logmel80-clean",
    (False, True): "logmel80-denoised",
}


class LogMel(torch.nn.Module):
    """80 log-mel bands at 50 Hz: (N,) audio -> (2T, 80). `highpass`: what lies below 30 Hz (a DC
    offset, rumble) is removed first; `level`: the input is brought to one active speech level, so
    the recording gain does not move the features; `denoise`: a steady noise floor (fan, hiss, hum)
    measured in the pauses is subtracted from the mel power."""

    dim = 80
    layer, weights = -1, ""  # as a HuBERT's are recorded: no layers, no weights to fingerprint

    def __init__(self, level: bool = False, denoise: bool = False, highpass: bool = False) -> None:
        super().__init__()
        self.level, self.denoise, self.highpass = level, denoise, highpass
        self.key = LOGMEL_KEYS[level, denoise] + ("-hp" if highpass else "")
        steps = [
            s
            for s, on in (
                ("rumble removed", highpass),
                ("levelled", level),
                ("steady noise removed", denoise),
            )
            if on
        ]
        self.kind = ", ".join(["log-mel", *steps]) + " (no HuBERT weights given)"
        self.register_buffer("fb", mel_filterbank())
        self.register_buffer("window", torch.hann_window(400))

    def forward(self, audio: torch.Tensor, frames: int) -> torch.Tensor:
        audio = rumble_removed(audio) if self.highpass else audio
        audio = level_normalised(audio) if self.level else audio
        spec = torch.stft(audio, 400, HOP, window=self.window, center=True, return_complex=True).abs() ** 2
        mel = self.fb @ spec  # (80, N/320 + 1)
        mel = steady_noise_removed(mel) if self.denoise else mel
        return to_frames(torch.log(mel + 1e-6).T, frames)


def hubert_named(source: str | Path) -> bool:
    """Whether `source` can name a HuBERT here: a folder that exists, or a Hugging Face model id
    ("org/name"), looked up in the local cache."""
    return Path(str(source)).expanduser().is_dir() or str(source).count("/") == 1


def hubert_home(source: str | Path) -> str:
    """How a model records the HuBERT it was trained with: a folder as an absolute path (the
    model is used from other working folders), a Hugging Face model id as given."""
    folder = Path(str(source)).expanduser()
    return str(folder.resolve()) if folder.is_dir() else str(source)


class Hubert(torch.nn.Module):
    """Hidden states of a local HuBERT at 50 Hz: (N,) audio -> (2T, hidden size)."""

    kind = "hubert"

    def __init__(self, source: str | Path, layer: int = -1):
        super().__init__()
        from transformers import HubertModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        if not hubert_named(source):
            raise TalkfaceError(
                f"--hubert {source}: no such folder (give a HuBERT folder saved with "
                "save_pretrained, or a model id already in the Hugging Face cache)"
            )
        # a fine-tuned checkpoint (HuBERT-large-ls960-ft is a HubertForCTC) would print a table
        # of the unused CTC head's weights, which reads as an error: it is expected
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            self.model = HubertModel.from_pretrained(str(source), local_files_only=True).eval()
        except (OSError, ValueError) as e:
            raise TalkfaceError(
                f"--hubert {source}: no local HuBERT weights there; nothing is downloaded "
                f"({str(e).splitlines()[0][:160]})"
            ) from None
        finally:
            hf_logging.set_verbosity(verbosity)
        depth = self.model.config.num_hidden_layers
        if not -1 <= layer <= depth:
            raise TalkfaceError(
                f"--layer {layer}: the HuBERT at {source} has hidden states 0-{depth} (-1: the last)"
            )
        self.layer = layer
        self.dim = self.model.config.hidden_size
        self.weights = weights_fingerprint(self.model)
        # named by its weights, not its folder: a moved folder keeps its features, weights saved
        # over the old ones in the same folder (a fine-tune) do not read the old ones
        self.key = f"hubert-{self.dim}-{hashlib.sha1(f'{self.weights}:{layer}'.encode()).hexdigest()[:10]}"

    def forward(self, audio: torch.Tensor, frames: int) -> torch.Tensor:
        x = (audio - audio.mean()) / (audio.std() + 1e-7)  # HuBERT's feature extractor normalisation
        out = self.model(x[None], output_hidden_states=self.layer != -1)
        hidden = out.last_hidden_state if self.layer == -1 else out.hidden_states[self.layer]
        return to_frames(hidden[0], frames)


def weights_fingerprint(model: torch.nn.Module) -> str:
    """A short digest of a model's weights: each tensor's shape and 4096 of its values spread evenly
    over it, in the model's order (10 ms for a HuBERT-large; hashing all 1.2 GB takes 0.7 s, and a
    fine-tune changes every value of what it trains). Names are left out: torch versions name the
    weight-normed positional convolution's two tensors differently."""
    digest = hashlib.sha1()
    for t in model.state_dict().values():
        flat = t.detach().reshape(-1).cpu()
        digest.update(str(tuple(t.shape)).encode())
        digest.update(flat[:: max(1, flat.numel() // 4096)].numpy().tobytes())
    return digest.hexdigest()[:16]


CONTENT_DEFAULT = "logmel-clean-hp"
# the log-mel content encoders by name: their (level, denoise, highpass) steps
LOGMEL = {
    "logmel-clean-hp": (True, True, True),
    "logmel-clean": (True, True, False),
    "logmel-level": (True, False, False),
    "logmel": (False, False, False),
}


def trained_content_encoder(cfg: Any, model: str) -> torch.nn.Module:
    """The content encoder `model` was trained with, as its config `cfg` records it (`content`,
    `content_dim`, `content_layer`, `content_weights`). A HuBERT folder moved since, or a model
    trained on another machine, is found where TALKFACE_HUBERT (`--hubert`) points, which must hold
    the same HuBERT: of the same width and, where the config has their fingerprint (models trained
    since session 23), the same weights."""
    source = cfg.content
    if source in LOGMEL:
        return content_encoder(source)
    moved = os.environ.get("TALKFACE_HUBERT")
    if not moved and not hubert_named(source):
        raise TalkfaceError(
            f"{model} was trained with the HuBERT at {source}, which is not on this machine: pass "
            "--hubert DIR (or set TALKFACE_HUBERT) where the same HuBERT is here"
        )
    encoder = Hubert(moved or source, cfg.content_layer)
    if encoder.dim != cfg.content_dim:
        raise TalkfaceError(
            f"--hubert {moved or source}: a HuBERT {encoder.dim} wide; {model} was trained on one "
            f"{cfg.content_dim} wide"
        )
    if cfg.content_weights and encoder.weights != cfg.content_weights:
        raise TalkfaceError(
            f"--hubert {moved or source}: other weights (fingerprint {encoder.weights}) than the "
            f"HuBERT {model} was trained with ({cfg.content_weights}); pass --hubert DIR where that "
            "HuBERT is"
        )
    return encoder


def content_encoder(source: str | Path | None = None, layer: int = -1) -> torch.nn.Module:
    """The content encoder a model was trained with: `logmel-clean-hp` (the default, also for None),
    `logmel-clean` (no rumble step), `logmel-level` (no noise step either) or `logmel` (no level
    step either: models trained before those), else a local HuBERT folder or cached id."""
    source = source or CONTENT_DEFAULT
    if source not in LOGMEL:
        return Hubert(source, layer)
    if layer != -1:
        raise TalkfaceError(f"--layer {layer}: a HuBERT hidden layer, but no --hubert was given")
    return LogMel(*LOGMEL[source])


PIECE = 30 * SR  # samples of audio per encoder pass
CONTEXT = SR  # samples of context each side of a piece
VIDEO_HOP = SR // 25  # samples per video frame


@torch.no_grad()
def encode(
    encoder: torch.nn.Module,
    audio: np.ndarray,
    frames: int | None = None,
    advance: Callable[[int], object] | None = None,
) -> np.ndarray:
    """(N,) 16 kHz audio -> (2T, W) float32, T = frames (default: audio length / 640). Audio over
    30 s goes in 30 s pieces with 1 s of context each side, so memory stays bounded for any length
    (a HuBERT-large over 2 minutes at once peaks 2.6 GB above its weights, over 30 s 0.64 GB; an
    HDTF video is one clip of minutes); `animate`, `prep features` and training read alike.
    `advance(n)`: told the audio's 25 fps frames as each piece is done."""
    frames = frames if frames is not None else max(1, round(len(audio) / VIDEO_HOP))
    if len(audio) <= PIECE:
        feats = _encode_once(encoder, audio, 2 * frames)
        if advance:
            advance(frames)
        return feats
    total, step, out = max(1, round(len(audio) / VIDEO_HOP)), PIECE // VIDEO_HOP, []
    for start in range(0, total, step):
        stop = min(total, start + step)
        a0, a1 = max(0, start * VIDEO_HOP - CONTEXT), min(len(audio), stop * VIDEO_HOP + CONTEXT)
        feats = _encode_once(encoder, audio[a0:a1], 2 * max(1, round((a1 - a0) / VIDEO_HOP)))
        skip = 2 * ((start * VIDEO_HOP - a0) // VIDEO_HOP)
        out.append(feats[skip : skip + 2 * (stop - start)])
        if advance:
            advance(stop - start)
    whole = np.concatenate(out)  # (2 total, W)
    return whole if len(whole) == 2 * frames else to_frames(torch.from_numpy(whole), 2 * frames).numpy()


def _encode_once(encoder: torch.nn.Module, audio: np.ndarray, n: int) -> np.ndarray:
    """(N,) -> (n, W) in one pass, on the encoder's device."""
    # HuBERT holds parameters, the log-mel front only buffers: take whichever the encoder has
    device = next(itertools.chain(encoder.parameters(), encoder.buffers())).device
    return encoder(torch.as_tensor(audio, dtype=torch.float32, device=device), n).float().cpu().numpy()


def cached_features(
    store: Path, clip_id: str, encoder: torch.nn.Module, audio: np.ndarray, frames: int
) -> np.ndarray:
    """The clip's features from the store's cache, computing and saving them the first time."""
    path = cache_path(store, encoder.key, f"{clip_id}.npy")
    return cached_array(path, 2 * frames, lambda: encode(encoder, audio, frames))


def precompute(store: Path, encoder: torch.nn.Module, disable_progress: bool = False) -> dict:
    """Cache the features of every clip in a store; returns what was done."""
    from ..data.store import load_clip, read_manifest
    from ..fsutil import atomic_write_json
    from ..ui import progress

    records = read_manifest(store)
    done = 0
    with progress(disable=disable_progress) as bar:
        task = bar.add_task(f"features {encoder.key}", total=len(records), unit="clip")
        for r in records:
            if not cache_path(store, encoder.key, f"{r['id']}.npy").is_file():
                clip = load_clip(store, r["id"])
                cached_features(store, r["id"], encoder, clip["audio"], r["frames"])
                done += 1
            bar.advance(task)
    info = {
        "encoder": encoder.key,
        "dim": encoder.dim,
        "rate_hz": RATE,
        "clips": len(records),
        "computed": done,
        "kind": encoder.kind,
        "layer": encoder.layer,
        "weights": encoder.weights,
        "folder": str(cache_path(store, encoder.key, "encoder.json").parent),
    }
    atomic_write_json(cache_path(store, encoder.key, "encoder.json"), info)
    return info
