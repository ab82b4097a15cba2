"""Emotion conditions for the EMG from the EDE's emotion space: of speech (the audio branch), of
a video's face parameters (the video branch), or of a label (the saved centroids).

The EMG is conditioned on clip-level emotion embeddings (L2-normalised time averages, eq. 4)
broadcast over time, not on per-frame EDE features: so a reference of any length, a label or a
blend of references can drive any content speech (see DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..audio.features import rumble_removed_power, speech_frames
from ..data.renders import render_params
from ..errors import TalkfaceError
from ..face.base import FaceModel
from ..models.ede import EDE

CHUNK = 250  # frames (10 s) per EDE pass, audio or video: memory stays bounded
MIN_SPEECH = 0.1  # share of speech below which a chunk takes its neighbour's emotion (1 s of 10)


@torch.no_grad()
def speech_emotion(ede: EDE, audio: np.ndarray, advance: Callable[[int], object] | None = None) -> np.ndarray:
    """(N,) 16 kHz -> clip embeddings (K, W) of K equal chunks of at most 10 s; `advance(n)` is
    told each chunk's 25 fps frames as it is done."""
    ede.eval()
    dev = next(ede.parameters()).device
    frames = max(1, round(len(audio) / 640))
    k = -(-frames // CHUNK)
    bounds = np.linspace(0, frames, k + 1).round().astype(int)
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        piece = audio[a * 640 : b * 640]
        piece = np.pad(piece, (0, (b - a) * 640 - len(piece)))  # the last frame may be short
        x = torch.from_numpy(piece.astype(np.float32))[None].to(dev)
        out.append(EDE.clip_embedding(ede.audio(x, b - a))[0].cpu().numpy())
        if advance:
            advance(b - a)
    return np.stack(out) if k == 1 else borrowed(np.stack(out), speech_share(audio, bounds))


def speech_share(audio: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(N,) audio, chunk bounds (K+1,) in 25 fps frames -> the share of each chunk's 20 ms frames
    that hold speech (within 30 dB of the input's loudest, what lies below 30 Hz left out). (K,)"""
    x = torch.from_numpy(np.asarray(audio, np.float32))
    speech = speech_frames(rumble_removed_power(x)).numpy()  # (n,) at 50 Hz
    parts = [speech[2 * a : 2 * b] for a, b in zip(bounds[:-1], bounds[1:])]
    return np.array([p.mean() if len(p) else 0.0 for p in parts])


def borrowed(embs: np.ndarray, share: np.ndarray, least: float = MIN_SPEECH) -> np.ndarray:
    """Chunk embeddings (K, W): a chunk with less than `least` of speech (silence reads as an
    emotion of its own) takes the embedding of the nearest chunk with enough; all unchanged when
    none has enough."""
    ok = np.flatnonzero(share >= least)
    if len(ok) == 0:
        return embs
    return embs[ok[np.abs(np.arange(len(embs))[:, None] - ok[None]).argmin(1)]]


def pooled(embs: np.ndarray) -> np.ndarray:
    """(K, W) -> their normalised mean (W,)."""
    m = embs.mean(0)
    return m / max(1e-12, float(np.linalg.norm(m)))


def emotion_name(label: str, emotions: list[str]) -> str:
    """A user's label -> one of the EDE's emotions: exact, else ignoring case, else by the name
    prep gives it in stores ("anger" -> angry, "happiness" -> happy), else the one emotion that it
    shortens or lengthens ("Happy" -> happy, "fear" -> fearful, "disgusted" -> disgust)."""
    from data_recipes.labels import emotion_name as store_name

    low = label.strip().lower()
    for match in (
        lambda e: e == label,
        lambda e: e.lower() == low,
        lambda e: e.lower() == store_name(low),
        lambda e: len(low) >= 3 and (e.lower().startswith(low) or low.startswith(e.lower())),
    ):
        hits = [e for e in emotions if match(e)]
        if len(hits) == 1:
            return hits[0]
    raise TalkfaceError(f"--emotion {label}: not in this EDE's emotions ({', '.join(emotions)})")


def label_emotion(ede: EDE, label: str, intensity: float = 1.0) -> np.ndarray:
    """A label's centroid, interpolated from neutral by `intensity` in [0, 1] (EavaNet): uses the
    label's strongest intensity centroid where saved. -> (W,)"""
    emotions, levels = list(ede.cfg.emotions), list(ede.cfg.intensities)
    label = emotion_name(label, emotions)
    if not 0.0 <= intensity <= 1.0:
        raise TalkfaceError(f"--intensity {intensity}: must lie in 0..1")
    strong = sorted(lv for lv in levels if lv.split("/")[0] == label)
    target = (
        (
            ede.intensity_centroids_audio[levels.index(strong[-1])]
            if strong
            else ede.centroids_audio[emotions.index(label)]
        )
        .cpu()
        .numpy()
    )
    if "neutral" not in emotions:
        return target / max(1e-12, float(np.linalg.norm(target)))
    neutral = ede.centroids_audio[emotions.index("neutral")].cpu().numpy()
    e = (1 - intensity) * neutral + intensity * target
    return e / max(1e-12, float(np.linalg.norm(e)))


@torch.no_grad()
def motion_emotion(ede: EDE, model: FaceModel, params: np.ndarray) -> np.ndarray:
    """Face parameters (T, D) -> the EDE video branch's clip embedding (W,) of their grey renders,
    in passes of CHUNK frames (the branch's activations grow with the clip: 3 GB for a minute at
    the paper's size, and an HDTF clip or a reference video runs for minutes). Each pass sees the
    frames its first layer's temporal kernel reaches beyond it, so it gives the one-pass features."""
    ede.eval()
    dev = next(ede.parameters()).device
    frames = render_params(model, params, None, ede.cfg.image_size)[:: ede.cfg.video_stride]  # (T', S, S)
    reach = ede.video.resnet.stem[0].kernel_size[0] // 2
    feats = []
    for a in range(0, len(frames), CHUNK):
        b = min(len(frames), a + CHUNK)
        lo, hi = max(0, a - reach), min(len(frames), b + reach)
        x = torch.from_numpy(frames[lo:hi]).float().div(255)[None, :, None].to(dev)  # (1, L, 1, S, S)
        feats.append(ede.video.frame_features(x)[0, a - lo : b - lo])
    return EDE.clip_embedding(torch.cat(feats)[None])[0].cpu().numpy()


def centroid_classes(ede: EDE, modality: str = "audio") -> tuple[list[str], np.ndarray]:
    """The emotions the EDE's `modality` branch has a centroid for, and those centroids (K, W),
    rows L2-normalised. A class whose training clips had no face keeps a zero video row, which
    must never be the nearest: its dot product (0) beats real centroids pointing away."""
    c = getattr(ede, f"centroids_{modality}").cpu().numpy()
    keep = [i for i, row in enumerate(c) if row.any()]
    return [ede.cfg.emotions[i] for i in keep], c[keep]


def nearest_emotion(ede: EDE, emb: np.ndarray, modality: str = "audio") -> str:
    """The emotion whose saved `modality` centroid lies nearest (cosine) to an embedding (W,)."""
    names, c = centroid_classes(ede, modality)
    if not names:  # training saves them: an EDE made otherwise (a benchmark's, by hand)
        raise TalkfaceError(
            f"the EDE has no {modality} emotion centroids (training saves them), so reads no emotion"
        )
    return names[int(np.argmax(c @ emb))]


TRACK_BLOCK = 1 << 16  # rows (22 min of speech at 50 Hz)


def emotion_track(embs: list[np.ndarray], frames: int) -> np.ndarray:
    """Emotion condition (2T, W) for T frames: one embedding held, or several blended over time
    (each owns an equal segment; neighbours cross-fade linearly between segment centres)."""
    e = np.stack(embs)
    if len(e) == 1:
        return np.repeat(e.astype(np.float32), 2 * frames, 0)
    centres = (np.arange(len(e)) + 0.5) / len(e)
    out = np.empty((2 * frames, e.shape[1]), np.float32)
    for a in range(0, 2 * frames, TRACK_BLOCK):  # float64 a block at a time: an hour whole took 0.4 GB
        t = (np.arange(a, min(2 * frames, a + TRACK_BLOCK)) + 0.5) / (2 * frames)
        block = np.stack([np.interp(t, centres, e[:, j]) for j in range(e.shape[1])], 1)
        out[a : a + len(t)] = block / np.linalg.norm(block, axis=1, keepdims=True).clip(1e-12)
    return out
