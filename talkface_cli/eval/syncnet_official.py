"""The official SyncNet (Chung & Zisserman 2016; joonson/syncnet_python's `S` network) for LSE-D /
LSE-C on rendered frames, with weights (`syncnet_v2.model`) the user downloads themselves: nothing
is fetched here. The layer names match that state dict, so it loads as is; it is read with
torch.load(weights_only=True), which refuses anything but tensors and plain containers.

Inputs as syncnet_python feeds them: 5 RGB frames of a 224x224 face crop, pixel values 0..255,
against 20 MFCC frames (13 coefficients at 100 Hz, python_speech_features' defaults on 16-bit
sample values). Our frames are clay renders of the face parameters, not photographs, so the
absolute values are not comparable with figures measured on real video; rankings are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import TalkfaceError, require_file
from .sync import MAX_OFFSET, SyncStats, offset_distances, stats_from_distances

FRAME = 224


def _block(conv: nn.Module, bn: nn.Module, pool: nn.Module | None = None) -> list[nn.Module]:
    return [conv, bn, nn.ReLU(inplace=True)] + ([pool] if pool is not None else [])


class OfficialSyncNet(nn.Module):
    def __init__(self, embed: int = 1024):
        super().__init__()
        c2, b2, c3, b3 = nn.Conv2d, nn.BatchNorm2d, nn.Conv3d, nn.BatchNorm3d
        self.netcnnaud = nn.Sequential(
            *_block(c2(1, 64, 3, 1, 1), b2(64), nn.MaxPool2d(1, 1)),
            *_block(c2(64, 192, 3, 1, 1), b2(192), nn.MaxPool2d(3, (1, 2))),
            *_block(c2(192, 384, 3, padding=1), b2(384)),
            *_block(c2(384, 256, 3, padding=1), b2(256)),
            *_block(c2(256, 256, 3, padding=1), b2(256), nn.MaxPool2d(3, 2)),
            *_block(c2(256, 512, (5, 4)), b2(512)),
        )
        self.netfcaud = nn.Sequential(
            nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, embed)
        )
        self.netfclip = nn.Sequential(
            nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, embed)
        )
        self.netcnnlip = nn.Sequential(
            *_block(c3(3, 96, (5, 7, 7), (1, 2, 2)), b3(96), nn.MaxPool3d((1, 3, 3), (1, 2, 2))),
            *_block(
                c3(96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)),
                b3(256),
                nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            ),
            *_block(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), b3(256)),
            *_block(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), b3(256)),
            *_block(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), b3(256), nn.MaxPool3d((1, 3, 3), (1, 2, 2))),
            *_block(c3(256, 512, (1, 6, 6)), b3(512)),
        )

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 13, 20) MFCC -> (B, embed)."""
        return self.netfcaud(self.netcnnaud(x).flatten(1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 5, 224, 224) frames 0..255 -> (B, embed)."""
        return self.netfclip(self.netcnnlip(x).flatten(1))


def load_syncnet(path: str | Path) -> OfficialSyncNet:
    """syncnet_v2.model (a state dict of the `S` network) -> the network in eval mode."""
    path = require_file(Path(path).expanduser(), " (--syncnet: syncnet_v2.model from joonson/syncnet_python)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is the file's fault
        raise TalkfaceError(
            f"--syncnet {path}: not a SyncNet state dict ({str(e).splitlines()[0][:120]})"
        ) from None
    net = OfficialSyncNet()
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TalkfaceError(f"--syncnet {path}: not a SyncNet state dict (expected tensors by layer name)")
    missing = sorted(set(net.state_dict()) - set(state))
    if missing or any(state[k].shape != v.shape for k, v in net.state_dict().items()):
        raise TalkfaceError(
            f"--syncnet {path}: layers do not match syncnet_python's S network "
            f"({', '.join(missing[:3]) or 'shape mismatch'})"
        )
    net.load_state_dict({k: state[k] for k in net.state_dict()})
    return net.eval()


def mfcc(audio: np.ndarray, sr: int = 16000) -> np.ndarray:
    """python_speech_features.mfcc with its defaults (25 ms windows, 10 ms step, 26 filters,
    NFFT 512, pre-emphasis 0.97, lifter 22, c0 = log frame energy): (N,) -> (frames, 13)."""
    x = np.append(audio[0], audio[1:] - 0.97 * audio[:-1]).astype(np.float64)
    flen, step, nfft = int(round(0.025 * sr)), int(round(0.01 * sr)), 512
    n = 1 if len(x) <= flen else 1 + int(np.ceil((len(x) - flen) / step))
    x = np.pad(x, (0, (n - 1) * step + flen - len(x)))
    frames = x[np.arange(flen)[None] + step * np.arange(n)[:, None]]
    power = np.abs(np.fft.rfft(frames, nfft)) ** 2 / nfft  # (n, 257)
    energy = power.sum(1)
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    hz = 700 * (10 ** (np.linspace(mel(0), mel(sr / 2), 28) / 2595) - 1)
    bins = np.floor((nfft + 1) * hz / sr).astype(int)
    fb = np.zeros((26, nfft // 2 + 1))
    for j in range(26):
        lo, mid, hi = bins[j], bins[j + 1], bins[j + 2]
        fb[j, lo:mid] = (np.arange(lo, mid) - lo) / max(mid - lo, 1)
        fb[j, mid:hi] = (hi - np.arange(mid, hi)) / max(hi - mid, 1)
    feat = np.log(np.where((f := power @ fb.T) == 0, np.finfo(float).eps, f))
    k = np.arange(26)
    dct = np.sqrt(2 / 26) * np.cos(np.pi * (2 * k[None] + 1) * np.arange(13)[:, None] / 52)  # DCT-II, ortho
    dct[0] /= np.sqrt(2)
    cep = feat @ dct.T * (1 + 11 * np.sin(np.pi * np.arange(13) / 22))
    cep[:, 0] = np.log(np.where(energy == 0, np.finfo(float).eps, energy))
    return cep.astype(np.float32)


@torch.no_grad()
def official_stats(
    net: OfficialSyncNet, frames: np.ndarray, audio: np.ndarray, batch: int = 20, max_offset: int = MAX_OFFSET
) -> SyncStats:
    """frames (T, 224, 224, 3) uint8, audio (N,) float in [-1, 1] at 16 kHz -> LSE statistics with
    syncnet_python's protocol (raw embedding distances, zero-padded audio windows)."""
    dev = next(net.parameters()).device
    cc = torch.from_numpy(mfcc(audio * 32768.0).T.copy())[None, None]  # (1, 1, 13, M)
    n = min(len(frames), len(audio) // 640) - 5
    if n < 1:
        raise ValueError("official SyncNet statistics need more than 5 frames")
    im = torch.from_numpy(frames).float().permute(3, 0, 1, 2)  # (3, T, 224, 224)
    v, a = [], []
    for s in range(0, n, batch):
        idx = range(s, min(n, s + batch))
        v.append(net.forward_lip(torch.stack([im[:, i : i + 5] for i in idx]).to(dev)).cpu())
        a.append(net.forward_aud(torch.stack([cc[0, :, :, 4 * i : 4 * i + 20] for i in idx]).to(dev)).cpu())
    d = offset_distances(torch.cat(v), torch.cat(a), max_offset, zero_pad=True)
    return stats_from_distances(d, max_offset)
