"""Lip-sync expert (EcoFace app. A.3, after Wav2Lip's expert): an audio encoder over 10 content
frames (0.2 s at 50 Hz) and a landmark encoder over 5 video frames of the 20 lip landmarks, each a
stack of Conv1d + BatchNorm + ReLU; the cosine of the two embeddings is the in-sync probability
(eq. 12). The final ReLU keeps both embeddings non-negative, so the cosine lies in [0, 1].

Landmarks enter as displacements from the neutral face's lip landmarks in centimetres, on the
mean identity, so the expert sees mouth motion, not who is speaking.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from torch import nn

from ..config import TrainConfig, from_dict, opt
from ..errors import TalkfaceError

AUDIO_FRAMES, VIDEO_FRAMES, LIP_POINTS = 10, 5, 20


@dataclass
class SyncConfig:
    content_dim: int = opt(
        80, "width D of the content features (80 log-mel, 1024 HuBERT large; set by training)"
    )
    content: str = opt(
        "logmel-clean-hp",
        "content encoder: logmel-clean-hp, logmel-clean, logmel-level, logmel or a local HuBERT folder "
        "(set by training)",
    )
    content_layer: int = opt(
        -1, "HuBERT hidden layer of the content features (-1: the last; train-sync --layer)", low=-1
    )
    content_weights: str = opt("", "fingerprint of the HuBERT's weights ('' for log-mel; set by training)")
    hidden: int = opt(512, "channels of the convolution stacks")
    width: int = opt(512, "embedding width")
    layers: int = opt(4, "Conv1d + BatchNorm + ReLU layers per encoder")


def conv_stack(c_in: int, hidden: int, width: int, layers: int) -> nn.Sequential:
    """(B, c_in, L) -> (B, width, 1): `layers` Conv1d(k3) + BN + ReLU, then pooled over time and a
    1x1 Conv1d + BN + ReLU to the embedding."""
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [
            nn.Conv1d(c_in if i == 0 else hidden, hidden, 3, padding=1),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
        ]
    mods += [nn.AdaptiveAvgPool1d(1), nn.Conv1d(hidden, width, 1), nn.BatchNorm1d(width), nn.ReLU()]
    return nn.Sequential(*mods)


class SyncExpert(nn.Module):
    def __init__(self, cfg: SyncConfig):
        super().__init__()
        self.cfg = cfg
        self.audio = conv_stack(cfg.content_dim, cfg.hidden, cfg.width, cfg.layers)
        self.lips = conv_stack(3 * LIP_POINTS, cfg.hidden, cfg.width, cfg.layers)

    def embed_audio(self, content: torch.Tensor) -> torch.Tensor:
        """(B, 10, D) content frames -> (B, width)."""
        return self.audio(content.transpose(1, 2))[..., 0]

    def embed_lips(self, lips: torch.Tensor) -> torch.Tensor:
        """(B, 5, 20, 3) lip-landmark displacements (cm) -> (B, width)."""
        return self.lips(lips.flatten(2).transpose(1, 2))[..., 0]

    def forward(self, content: torch.Tensor, lips: torch.Tensor) -> torch.Tensor:
        """In-sync probability (B,) in [0, 1]: the cosine of the two embeddings (eq. 12)."""
        return nn.functional.cosine_similarity(
            self.embed_audio(content), self.embed_lips(lips), dim=-1, eps=1e-8
        )


def sync_bce(prob: torch.Tensor, in_sync: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the cosine probability (B,) against the in-sync labels (B,) (eq. 12)."""
    return nn.functional.binary_cross_entropy(prob.clamp(1e-6, 1 - 1e-6), in_sync.float())


@dataclass
class SyncStage:
    model: SyncConfig = field(default_factory=SyncConfig)
    max_shift: int = opt(15, "largest shift (video frames) of an off-sync pair")
    min_shift: int = opt(2, "smallest shift (video frames) of an off-sync pair")
    other_clip: float = opt(0.25, "share of off-sync pairs whose audio comes from another clip", high=1)
    train: TrainConfig = field(default_factory=TrainConfig)

    def check(self) -> None:
        """Settings that hold together (each alone is held to its limits by `--set`)."""
        if self.min_shift > self.max_shift:
            raise TalkfaceError(f"--set min_shift={self.min_shift}: at most max_shift ({self.max_shift})")
        world = int(os.environ.get("WORLD_SIZE", "1"))  # torchrun's processes share the batch out
        if self.train.batch_size < 2 * world:  # BatchNorm needs two values per channel to train
            raise TalkfaceError(
                f"--set train.batch_size={self.train.batch_size}: at least 2 per process for the sync "
                f"expert ({2 * world} over {world})"
            )


def build(config: dict) -> SyncExpert:
    """Registry builder: the expert of a saved `train-sync` config."""
    return SyncExpert(from_dict(SyncStage, config).model)
