"""Sync statistics of a parameter sequence against its audio (SyncNet's LSE-D / LSE-C protocol):
embed every 5-frame window of lips and of audio, and for each offset -15..15 frames take the mean
distance between video window t and audio window t + offset. LSE-D is the smallest mean distance,
LSE-C the median minus the smallest, and the best offset the one with the smallest distance
(positive: the audio lags the face). Distances are Euclidean between L2-normalised embeddings,
sqrt(2 - 2 cos), so they lie in [0, 2]. Unlike syncnet_python, which zero-pads the audio
features at both ends and averages the padding in, each offset averages only the windows where
both exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..models.sync import AUDIO_FRAMES, VIDEO_FRAMES, SyncExpert

MAX_OFFSET = 15


@dataclass
class SyncStats:
    lse_d: float
    lse_c: float
    offset: int
    distances: np.ndarray  # (2 * max_offset + 1,) mean distance per offset

    def as_dict(self) -> dict:
        return {"lse_d": self.lse_d, "lse_c": self.lse_c, "offset": self.offset}


def audio_windows(content: torch.Tensor, n: int) -> torch.Tensor:
    """(2T, D) content frames -> (n, 10, D): window t covers video frames t..t+4."""
    return torch.stack([content[2 * t : 2 * t + AUDIO_FRAMES] for t in range(n)])


def lip_windows(lips: torch.Tensor, n: int) -> torch.Tensor:
    """(T, 20, 3) -> (n, 5, 20, 3)."""
    return torch.stack([lips[t : t + VIDEO_FRAMES] for t in range(n)])


@torch.no_grad()
def embed_sequence(
    expert: SyncExpert, content: torch.Tensor, lips: torch.Tensor, chunk: int = 512
) -> tuple[torch.Tensor, torch.Tensor]:
    """content (2T', D), lips (T, 20, 3) -> L2-normalised embeddings of every window:
    video (T-4, W), audio (T'-4, W)."""
    expert.eval()
    dev = next(expert.parameters()).device
    nv = lips.shape[0] - VIDEO_FRAMES + 1
    na = content.shape[0] // 2 - VIDEO_FRAMES + 1
    if nv < 1 or na < 1:
        raise ValueError(f"sync statistics need at least {VIDEO_FRAMES} frames")
    v = torch.cat(
        [
            expert.embed_lips(lip_windows(lips[s : s + chunk + 4], min(chunk, nv - s)).to(dev))
            for s in range(0, nv, chunk)
        ]
    )
    a = torch.cat(
        [
            expert.embed_audio(
                audio_windows(content[2 * s : 2 * (s + chunk + 4)], min(chunk, na - s)).to(dev)
            )
            for s in range(0, na, chunk)
        ]
    )
    return torch.nn.functional.normalize(v, dim=-1), torch.nn.functional.normalize(a, dim=-1)


def offset_distances(
    v: torch.Tensor, a: torch.Tensor, max_offset: int = MAX_OFFSET, zero_pad: bool = False
) -> np.ndarray:
    """Mean distance between v[t] and a[t + o] for o = -max..max: over the t where both exist, or
    (`zero_pad`, syncnet_python's calc_pdist) over every t with missing audio windows as zeros."""
    out = []
    for o in range(-max_offset, max_offset + 1):
        if zero_pad:
            ap = torch.nn.functional.pad(a, (0, 0, max_offset, max_offset + len(v)))
            out.append(float((v - ap[max_offset + o : max_offset + o + len(v)]).norm(dim=-1).mean()))
            continue
        lo, hi = max(0, -o), min(len(v), len(a) - o)
        out.append(float((v[lo:hi] - a[lo + o : hi + o]).norm(dim=-1).mean()) if hi > lo else np.nan)
    return np.array(out)


def stats_from_distances(d: np.ndarray, max_offset: int = MAX_OFFSET) -> SyncStats:
    """LSE-D = min, LSE-C = median - min, best offset = argmin (offsets -max..max)."""
    i = int(np.nanargmin(d))
    return SyncStats(float(d[i]), float(np.nanmedian(d) - d[i]), i - max_offset, d)


def sync_stats(
    expert: SyncExpert, content: torch.Tensor, lips: torch.Tensor, max_offset: int = MAX_OFFSET
) -> SyncStats:
    """Sync statistics of one clip: content (2T, D), lips (T, 20, 3)."""
    v, a = embed_sequence(expert, content, lips)
    return stats_from_distances(offset_distances(v, a, max_offset), max_offset)


def delay(audio: np.ndarray, frames: int, hop: int = 640) -> np.ndarray:
    """The audio delayed by `frames` video frames (silence in front), same length: (N,) -> (N,)."""
    shift = frames * hop
    if shift >= 0:
        return np.concatenate([np.zeros(shift, audio.dtype), audio[: len(audio) - shift]])
    return np.concatenate([audio[-shift:], np.zeros(-shift, audio.dtype)])
