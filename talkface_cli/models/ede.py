"""Emotional disentanglement encoder (EcoFace sec. 3.2, app. A.1): an audio and a video branch
mapping a clip to per-frame emotion features at 50 Hz in one shared space.

- Audio: HuBERT-structured (transformers' HubertModel config). `front="wave"` is HuBERT itself on
  the raw 16 kHz waveform (the paper, and pretrained weights); `front="logmel"` replaces only its
  convolutional feature encoder by 1D convolutions over 80 log-mel bands at 50 Hz (optionally
  max-pooled in time, the transformer's output interpolated back to 50 Hz) and keeps HuBERT's
  positional convolution and transformer (the `tiny` preset: HuBERT's waveform front end cannot be
  learnt from scratch on a few hundred clips). (N,) audio -> (2T, W).
- Video: ResNet-18 with a 5x7x7 3D first layer over (T, 1, S, S) grey renders of the face
  parameters -> (T, W), linearly interpolated to 2T (eq. 3).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..config import TrainConfig, from_dict, opt
from ..errors import TalkfaceError
from .video_resnet import VideoResNet18


@dataclass
class EDEConfig:
    width: int = opt(1024, "emotion feature width W (paper: 1024)")
    front: str = opt(
        "wave",
        "audio front end: wave (HuBERT conv encoder) or logmel (80 bands, 50 Hz)",
        choices=("wave", "logmel"),
    )
    layers: int = opt(24, "transformer layers of the audio branch (HuBERT large: 24)")
    heads: int = opt(16, "attention heads")
    ffn: int = opt(4096, "transformer feed-forward width")
    conv_pos: int = opt(128, "HuBERT positional convolution kernel")
    front_layers: int = opt(2, "logmel front: Conv1d + BatchNorm + ReLU layers (kernel 5)")
    front_width: int = opt(0, "logmel front: channels of its hidden layers (0: W)", low=0)
    front_pool: int = opt(
        0,
        "logmel front: max-pool time by 2 after each of its first k layers (transformer at 50/2^k Hz)",
        low=0,
    )
    mel_norm: bool = opt(
        False, "logmel front: subtract each band's mean over the utterance (removes speaker/channel)"
    )
    level: bool = opt(
        False, "logmel front: bring each clip to one active speech level first (HuBERT normalises its input)"
    )
    denoise: bool = opt(
        False,
        "logmel front: subtract a steady noise floor measured in the pauses, as the content features "
        "do (off for models trained before it; the tiny preset sets it)",
    )
    highpass: bool = opt(
        False,
        "logmel front: remove what lies below 30 Hz first (a DC offset, rumble), as the content "
        "features do (off for models trained before it; the tiny preset sets it)",
    )
    dropout: float = opt(0.1, "dropout in the audio transformer", below=1)
    video_widths: tuple = opt((64, 128, 256, 512), "ResNet-18 stage widths of the video branch")
    image_size: int = opt(128, "render size S of the video branch input (paper: 128)")
    video_stride: int = opt(
        1, "feed every k-th frame to the video branch (paper: 1; tiny: 2, halves its cost)"
    )
    hubert: dict = opt(
        {}, "architecture of the pretrained HuBERT the audio branch started from (train-ede --hubert)"
    )
    init: str = opt("", "that HuBERT's folder and weights fingerprint (set by train-ede --hubert)")
    emotions: list = opt([], "emotion labels, in the order of the saved centroids (set by training)")
    intensities: list = opt([], "'emotion/intensity' labels of the saved intensity centroids")


def hubert_config(cfg: EDEConfig):  # noqa: ANN201 - transformers.HubertConfig
    """The audio branch's HuBERT: a pretrained one's own architecture (its sizes, and e.g. the
    pre-norm transformer and layer-normed waveform encoder of HuBERT-large) when it started from
    one, else HuBERT-base's built at the config's sizes; the config's dropout either way, no
    layer drop or time masking."""
    from transformers import HubertConfig

    sizes = dict(
        hidden_size=cfg.width,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        intermediate_size=cfg.ffn,
        num_conv_pos_embeddings=cfg.conv_pos,
    )
    return HubertConfig(
        **{**cfg.hubert, **sizes},
        hidden_dropout=cfg.dropout,
        attention_dropout=cfg.dropout,
        activation_dropout=cfg.dropout,
        feat_proj_dropout=cfg.dropout,
        layerdrop=0.0,
        mask_time_prob=0.0,
    )


def started_from(cfg: EDEConfig, pretrained: Any, source: str, weights: str) -> EDEConfig:
    """`cfg` with the audio branch's architecture and sizes taken from a pretrained HuBERT
    (`transformers.HubertModel`), recorded with its folder and weights fingerprint."""
    hc = pretrained.config
    drop = ("hidden_dropout", "attention_dropout", "activation_dropout", "feat_proj_dropout", "layerdrop")
    arch = {k: v for k, v in hc.to_dict().items() if k not in drop and not k.startswith("mask_")}
    return dataclasses.replace(
        cfg,
        width=hc.hidden_size,
        layers=hc.num_hidden_layers,
        heads=hc.num_attention_heads,
        ffn=hc.intermediate_size,
        conv_pos=hc.num_conv_pos_embeddings,
        hubert=arch,
        init=f"{source} ({weights})",
    )


def to_length(x: torch.Tensor, n: int) -> torch.Tensor:
    """Linearly interpolate (B, L, C) to (B, n, C)."""
    if x.shape[1] == n:
        return x
    return nn.functional.interpolate(x.transpose(1, 2), size=n, mode="linear", align_corners=False).transpose(
        1, 2
    )


class AudioEmotionEncoder(nn.Module):
    def __init__(self, cfg: EDEConfig):
        super().__init__()
        from transformers import HubertModel

        self.front = cfg.front
        self.hubert = HubertModel(hubert_config(cfg))
        if cfg.front == "logmel":
            from ..audio.features import LogMel

            self.logmel = LogMel(cfg.level, cfg.denoise, cfg.highpass)
            self.mel_norm = cfg.mel_norm
            # a convolutional encoder of the log-mel frames in place of HuBERT's convolutional
            # waveform encoder; no per-frame normalisation (loudness is a cue of emotion)
            widths = [80] + [cfg.front_width or cfg.width] * (cfg.front_layers - 1) + [cfg.width]
            self.pool = cfg.front_pool
            self.proj = nn.Sequential(
                *[
                    layer
                    for i, (c_in, c_out) in enumerate(zip(widths, widths[1:]))
                    for layer in (nn.Conv1d(c_in, c_out, 5, padding=2), nn.BatchNorm1d(c_out), nn.ReLU())
                    + ((nn.MaxPool1d(2, ceil_mode=True),) if i < cfg.front_pool else ())
                ]
            )
            del self.hubert.feature_extractor, self.hubert.feature_projection  # replaced by the log-mel front
        elif cfg.front != "wave":
            raise ValueError(f"unknown audio front end {cfg.front!r}")

    def start_from(self, pretrained: nn.Module) -> None:
        """Copy a pretrained `HubertModel`'s weights (of the architecture `started_from` recorded)
        and freeze its waveform encoder, as HuBERT's fine-tuning does."""
        missing, unexpected = self.hubert.load_state_dict(pretrained.state_dict(), strict=False)
        if missing or set(unexpected) - {"masked_spec_embed"}:  # time masking is off here
            raise TalkfaceError(
                f"the pretrained HuBERT does not fit the audio branch: {missing or unexpected}"
            )
        self.hubert.feature_extractor.requires_grad_(False)

    def forward(self, audio: torch.Tensor, frames: int, mask: torch.Tensor | None = None) -> torch.Tensor:
        """audio (B, N) 16 kHz [, mask (B, 2T) of valid frames] -> (B, 2T, W) for T video frames."""
        if self.front == "wave":
            x = (audio - audio.mean(1, keepdim=True)) / (audio.std(1, keepdim=True) + 1e-7)
            return to_length(self.hubert(x).last_hidden_state, 2 * frames)
        mel = (torch.stack([self.logmel(a, 2 * frames) for a in audio]) + 6.0) / 4.0  # (B, 2T, 80)
        valid = torch.ones(mel.shape[:2], device=mel.device) if mask is None else mask.float()
        if self.mel_norm:
            mean = (mel * valid[..., None]).sum(1, keepdim=True) / valid.sum(1)[:, None, None].clamp_min(1)
            mel = (mel - mean) * valid[..., None]
        x = self.proj(mel.transpose(1, 2)).transpose(1, 2)  # (B, 2T / 2^pool, W)
        for _ in range(self.pool):  # a pooled frame is valid when any of its inputs is
            valid = nn.functional.max_pool1d(valid[:, None], 2, ceil_mode=True)[:, 0]
        # the encoder zeroes padded frames in place, hence the copy
        h = self.hubert.encoder(x.clone(), attention_mask=valid > 0).last_hidden_state
        return to_length(h, 2 * frames)  # (B, 2T, W)


class VideoEmotionEncoder(nn.Module):
    def __init__(self, cfg: EDEConfig):
        super().__init__()
        self.resnet = VideoResNet18(tuple(cfg.video_widths))
        self.proj = nn.Linear(self.resnet.out_dim, cfg.width)
        self.stride = cfg.video_stride

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T', 1, S, S) grey renders in [0, 1], already strided -> (B, T', W)."""
        return self.proj(self.resnet(frames))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 1, S, S) grey renders in [0, 1] -> (B, 2T, W)."""
        return to_length(self.frame_features(frames[:, :: self.stride]), 2 * frames.shape[1])


class EDE(nn.Module):
    """Both branches plus the emotion-space centroids saved by training (buffers)."""

    def __init__(self, cfg: EDEConfig):
        super().__init__()
        self.cfg = cfg
        self.audio = AudioEmotionEncoder(cfg)
        self.video = VideoEmotionEncoder(cfg)
        for modality in ("audio", "video"):
            self.register_buffer(f"centroids_{modality}", torch.zeros(len(cfg.emotions), cfg.width))
            self.register_buffer(
                f"intensity_centroids_{modality}", torch.zeros(len(cfg.intensities), cfg.width)
            )

    def forward(
        self, audio: torch.Tensor, frames: torch.Tensor | None, t: int, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """audio (B, N), frames (B', T, 1, S, S) or None [, mask (B, 2T) of valid audio frames]
        -> audio (B, 2T, W), video (B', 2T, W)."""
        video = self.video(frames) if frames is not None and len(frames) else None
        return self.audio(audio, t, mask), video

    @staticmethod
    def clip_embedding(feats: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Time-average (eq. 4) then L2-normalise: (B, L, W) [, (B, L) valid] -> (B, W)."""
        if mask is None:
            z = feats.mean(1)
        else:
            z = (feats * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1)
        return nn.functional.normalize(z, dim=-1)


@dataclass
class EDEStage:
    """Everything `train-ede` needs: the model, the loss weights, the data window, training."""

    model: EDEConfig = field(default_factory=EDEConfig)
    temperature: float = opt(0.07, "SupCon temperature tau (eq. 4)", above=0)
    margin: float = opt(0.5, "triplet margin alpha (eq. 7)")
    w_contrastive: float = opt(1.0, "weight of the supervised contrastive loss (0 drops it)")
    w_av: float = opt(1.0, "weight of the audio-visual L2 loss (eq. 5; 0 drops it)")
    w_triplet: float = opt(1.0, "weight of the intensity triplet loss (eq. 7; 0 drops it)")
    window: int = opt(50, "frames per training window (25 fps); clips are cropped or padded")
    speed_perturb: float = opt(0.0, "training audio played 1 +- this faster or slower (0: off)", below=1)
    video_per_batch: int = opt(0, "clips per batch that also go through the video branch (0: all)", low=0)
    train: TrainConfig = field(default_factory=TrainConfig)

    def check(self) -> None:
        """Settings that hold together (each alone is held to its limits by `--set`)."""
        m = self.model
        if m.width % m.heads:
            raise TalkfaceError(f"--set model.heads={m.heads}: must divide model.width ({m.width})")
        if m.front_pool > m.front_layers:
            raise TalkfaceError(
                f"--set model.front_pool={m.front_pool}: at most model.front_layers ({m.front_layers})"
            )


def build(config: dict) -> EDE:
    """Registry builder: the EDE of a saved `train-ede` config."""
    return EDE(from_dict(EDEStage, config).model)
