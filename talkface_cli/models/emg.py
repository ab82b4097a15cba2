"""Emotional motion generator (EcoFace sec. 3.3, app. A.2): a conditional VAE over face-parameter
sequences with a normalising-flow prior and a speaker-aware decoder.

- Encoder: Conv1d(stride q=4) + ReLU + LayerNorm, then a conditional WaveNet; (T, D) parameters
  -> T/4 latents of width 16 (mean and log-std), conditioned on content and emotion.
- Prior: a normalising flow of affine coupling layers (a conditional WaveNet predicts the shift and
  log-scale of one half of the channels from the other) and channel flips, conditioned on the same.
- Decoder: a conditional WaveNet over the latents, then a transposed Conv1d (stride 4) + ReLU +
  LayerNorm and a 1x1 projection to the D parameters; a speaker embedding is added to its speech
  condition. Deviation (`frame_layers`, 0 restores the paper's decoder): a short conditional
  WaveNet at the frame rate, after the upsampling, adds the frame-rate detail lips need.
Conditions: content features (2T, Dc) and the emotion embedding (2T, We) are each projected to
`cond` (64) channels and summed; a strided Conv1d (kernel = stride = 2q) brings them to the latent
rate, one per module. Conditional WaveNet layers: gated dilated convolutions (dilation 2^i) whose
inputs add a 1x1 projection of the condition (VITS' WN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ..config import TrainConfig, from_dict, opt
from ..errors import TalkfaceError


@dataclass
class EMGConfig:
    params: int = opt(53, "face parameters D per frame (set by training)")
    face_model: str = opt("ict", "face model the parameters belong to (set by training)")
    content_dim: int = opt(80, "content feature width Dc (set by training)")
    content: str = opt(
        "logmel-clean-hp",
        "content encoder: logmel-clean-hp, logmel-clean, logmel-level, logmel or a local HuBERT folder "
        "(set by training)",
    )
    content_layer: int = opt(
        -1, "HuBERT hidden layer of the content features (-1: the last; set by training)", low=-1
    )
    content_weights: str = opt("", "fingerprint of the HuBERT's weights ('' for log-mel; set by training)")
    emotion_dim: int = opt(1024, "EDE emotion feature width We (set by training)")
    speakers: list = opt([], "speaker ids of the training split, in embedding order (set by training)")
    speaker_conditioning: bool = opt(True, "add a speaker embedding to the decoder's speech condition")
    cond: int = opt(64, "channels the conditions are projected to (paper: 64)")
    hidden: int = opt(256, "WaveNet channels")
    latent: int = opt(16, "latent width (paper: 16)")
    stride: int = opt(4, "temporal compression q of the encoder (paper: 4)")
    layers: int = opt(8, "dilated layers per conditional WaveNet (dilation 1, 2, 4, ...)")
    flows: int = opt(4, "coupling layers of the flow prior")
    frame_layers: int = opt(
        3,
        "layers of a frame-rate conditional WaveNet after the decoder's upsampling (0: the paper's decoder)",
        low=0,
    )


class ShiftConv1d(nn.Conv1d):
    """A stride-1 Conv1d computed as one matrix product over the k shifted copies of its input
    (same parameters and result as nn.Conv1d). On short inputs PyTorch's CPU convolution pays a
    large fixed cost (and for dilated kernels on one sequence a slow per-element path); the EMG
    trains on short windows, so its stride-1 convolutions are these (animate samples through
    emg_fast, which reads the same weights). Long inputs keep the library convolution."""

    LONG = 1 << 16  # input elements above which nn.Conv1d is used

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, L) -> (B, O, L') with L' as nn.Conv1d."""
        if x.numel() > self.LONG:
            return super().forward(x)
        k, d, p = self.kernel_size[0], self.dilation[0], self.padding[0]
        n = x.shape[-1] + 2 * p - d * (k - 1)
        if p:
            x = nn.functional.pad(x, (p, p))
        cols = x if k == 1 else torch.cat([x[:, :, j * d : j * d + n] for j in range(k)], 1)  # (B, k C, L')
        w = cached_weight(self, lambda w: w[:, :, 0] if k == 1 else w.permute(0, 2, 1).reshape(len(w), -1))
        if len(x) == 1:  # one sequence: a single fused matrix product (O, k C) @ (k C, L') + bias
            return torch.addmm(self.bias[:, None], w, cols[0])[None]
        return torch.matmul(w, cols) + self.bias[:, None]


class PatchConv1d(nn.Conv1d):
    """Conv1d with stride = kernel (non-overlapping patches) as one matrix product; same parameters
    and result as nn.Conv1d, without its fixed cost on short inputs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, L) -> (B, O, L // k)."""
        k, (b, c, n) = self.kernel_size[0], x.shape
        cols = x[:, :, : n // k * k].reshape(b, c, n // k, k).transpose(2, 3).reshape(b, c * k, n // k)
        return torch.matmul(cached_weight(self, lambda w: w.reshape(len(w), -1)), cols) + self.bias[:, None]


class PatchConvTranspose1d(nn.ConvTranspose1d):
    """ConvTranspose1d with stride = kernel as one matrix product (same parameters and result)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, L) -> (B, O, L k)."""
        k, (b, _, n) = self.kernel_size[0], x.shape
        y = torch.matmul(cached_weight(self, lambda w: w.reshape(len(w), -1).T), x)  # (B, O k, L)
        return y.reshape(b, -1, k, n).transpose(2, 3).reshape(b, -1, n * k) + self.bias[:, None]


def cached_weight(conv: nn.Module, layout) -> torch.Tensor:
    """`layout(conv.weight)`, kept between calls while no gradient is needed and the weight is
    unchanged (same storage and version), so inference does not copy every weight on every call."""
    w = conv.weight
    if torch.is_grad_enabled():
        return layout(w)
    key = (w.data_ptr(), w._version)
    if getattr(conv, "_layout", (None,))[0] != key:
        conv._layout = (key, layout(w))
    return conv._layout[1]


class CondWaveNet(nn.Module):
    """(B, H, L) hidden, (B, C, L) condition -> (B, H, L): gated dilated convs with the condition
    added to every layer's input, residual and skip connections."""

    def __init__(self, hidden: int, cond: int, layers: int, kernel: int = 3):
        super().__init__()
        self.hidden = hidden
        self.dilated = nn.ModuleList(
            ShiftConv1d(hidden, 2 * hidden, kernel, dilation=2**i, padding=(kernel - 1) * 2**i // 2)
            for i in range(layers)
        )
        self.cond = ShiftConv1d(cond, 2 * hidden * layers, 1)
        self.res_skip = nn.ModuleList(
            ShiftConv1d(hidden, 2 * hidden if i < layers - 1 else hidden, 1) for i in range(layers)
        )

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        h, out = self.hidden, torch.zeros_like(x)
        gs = self.cond(g).chunk(len(self.dilated), 1)
        for i, (conv, rs) in enumerate(zip(self.dilated, self.res_skip)):
            a = conv(x) + gs[i]
            y = rs(torch.tanh(a[:, :h]) * torch.sigmoid(a[:, h:]))
            if i < len(self.dilated) - 1:
                x = x + y[:, :h]
                out = out + y[:, h:]
            else:
                out = out + y
        return out


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of (B, C, L)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class Coupling(nn.Module):
    """Affine coupling: the second half of the channels is shifted and scaled by a conditional
    WaveNet of the first half; then the channels are flipped. Log-scales are soft-clamped (tanh)."""

    def __init__(self, channels: int, hidden: int, cond: int, layers: int):
        super().__init__()
        self.half = channels // 2
        self.pre = ShiftConv1d(self.half, hidden, 1)
        self.net = CondWaveNet(hidden, cond, layers)
        self.post = ShiftConv1d(hidden, 2 * (channels - self.half), 1)
        nn.init.zeros_(self.post.weight)
        nn.init.zeros_(self.post.bias)

    def forward(
        self, z: torch.Tensor, g: torch.Tensor, reverse: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, L) -> (B, C, L), log|det| (B,) (of the forward direction)."""
        if reverse:
            z = z.flip(1)
        za, zb = z[:, : self.half], z[:, self.half :]
        m, logs = self.post(self.net(self.pre(za), g)).chunk(2, 1)
        logs = torch.tanh(logs)
        zb = (zb - m) * torch.exp(-logs) if reverse else m + zb * torch.exp(logs)
        out = torch.cat([za, zb], 1)
        return (out if reverse else out.flip(1)), logs.sum((1, 2))


class EMG(nn.Module):
    def __init__(self, cfg: EMGConfig):
        super().__init__()
        self.cfg = cfg
        h, c, q = cfg.hidden, cfg.cond, cfg.stride
        self.content_proj = ShiftConv1d(cfg.content_dim, c, 1)
        self.emotion_proj = ShiftConv1d(cfg.emotion_dim, c, 1)
        self.down = nn.ModuleDict(
            {k: PatchConv1d(c, c, 2 * q, stride=2 * q) for k in ("enc", "prior", "dec")}
        )
        if cfg.frame_layers:  # deviation: lips need frame-rate detail that T/4 latents lose (DESIGN.md)
            self.down["frame"] = PatchConv1d(c, c, 2, stride=2)
            self.frame = CondWaveNet(h, c, cfg.frame_layers)
        self.speaker = nn.Embedding(max(1, len(cfg.speakers)), c)
        self.enc_in = nn.Sequential(PatchConv1d(cfg.params, h, q, stride=q), nn.ReLU(), ChannelNorm(h))
        self.enc = CondWaveNet(h, c, cfg.layers)
        self.enc_out = ShiftConv1d(h, 2 * cfg.latent, 1)
        self.flows = nn.ModuleList(
            Coupling(cfg.latent, h, c, max(2, cfg.layers // 2)) for _ in range(cfg.flows)
        )
        self.dec_in = ShiftConv1d(cfg.latent, h, 1)
        self.dec = CondWaveNet(h, c, cfg.layers)
        self.dec_up = nn.Sequential(PatchConvTranspose1d(h, h, q, stride=q), nn.ReLU(), ChannelNorm(h))
        self.dec_out = ShiftConv1d(h, cfg.params, 1)

    def conditions(
        self, content: torch.Tensor, emotion: torch.Tensor, speaker: torch.Tensor | None, encoder: bool = True
    ) -> dict[str, torch.Tensor]:
        """content (B, 2T, Dc), emotion (B, 2T, We), speaker (B,) ids or (B, S) weights over the
        speakers (an unseen speaker: uniform) -> per module (B, cond, T/q) (`frame`: (B, cond, T));
        T a multiple of q; `encoder` False leaves out the encoder's (sampling does not use it)."""
        g = self.content_proj(content.transpose(1, 2)) + self.emotion_proj(emotion.transpose(1, 2))
        out = {k: d(g) for k, d in self.down.items() if encoder or k != "enc"}
        if self.cfg.speaker_conditioning and speaker is not None:
            s = self.speaker(speaker) if speaker.ndim == 1 else speaker @ self.speaker.weight
            for k in ("dec", "frame"):
                if k in out:
                    out[k] = out[k] + s[:, :, None]
        return out

    def encode(self, params: torch.Tensor, g: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, D) -> mean, log-std (B, latent, T/q)."""
        h = self.enc(self.enc_in(params.transpose(1, 2)), g["enc"])
        mu, logs = self.enc_out(h).chunk(2, 1)
        return mu, logs.clamp(-7, 2)

    def prior_logp(self, z: torch.Tensor, g: dict) -> torch.Tensor:
        """log p(z | c, e) under the flow prior, summed per sequence: (B, latent, L) -> (B,)."""
        logdet = torch.zeros(len(z), device=z.device)
        for f in self.flows:
            z, ld = f(z, g["prior"])
            logdet = logdet + ld
        return (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum((1, 2)) + logdet

    def prior_sample(self, eps: torch.Tensor, g: dict) -> torch.Tensor:
        """Base noise (B, latent, L) -> latents through the inverse flow."""
        z = eps
        for f in reversed(self.flows):
            z, _ = f(z, g["prior"], reverse=True)
        return z

    def decode(self, z: torch.Tensor, g: dict) -> torch.Tensor:
        """(B, latent, T/q) -> (B, T, D)."""
        h = self.dec_up(self.dec(self.dec_in(z), g["dec"]))  # (B, H, T)
        if self.cfg.frame_layers:
            h = h + self.frame(h, g["frame"])
        return self.dec_out(h).transpose(1, 2)

    def forward(
        self, params: torch.Tensor, content: torch.Tensor, emotion: torch.Tensor, speaker: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pass: reconstruction (B, T, D) and the Monte-Carlo KL(q || flow prior) per
        latent element (B,)."""
        g = self.conditions(content, emotion, speaker)
        mu, logs = self.encode(params, g)
        eps = torch.randn_like(mu)
        z = mu + eps * logs.exp()
        logq = (-0.5 * eps**2 - logs - 0.5 * math.log(2 * math.pi)).sum((1, 2))
        kl = (logq - self.prior_logp(z, g)) / mu[0].numel()
        return self.decode(z, g), kl

    @torch.no_grad()
    def sample(
        self,
        content: torch.Tensor,
        emotion: torch.Tensor,
        speaker: torch.Tensor | None,
        temperature: float = 0.5,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """content (B, 2T, Dc), emotion (B, 2T, We) with T a multiple of q -> parameters (B, T, D)."""
        g = self.conditions(content, emotion, speaker, encoder=False)
        shape = (content.shape[0], self.cfg.latent, content.shape[1] // (2 * self.cfg.stride))
        eps = torch.randn(shape, generator=generator, device="cpu").to(content.device) * temperature
        return self.decode(self.prior_sample(eps, g), g)


@dataclass
class EMGStage:
    model: EMGConfig = field(default_factory=EMGConfig)
    window: int = opt(48, "frames per training window (a multiple of the stride)")
    w_recon: float = opt(
        1.0, "weight of the reconstruction term (Gaussian NLL = scaled MSE of the parameters)"
    )
    recon_scale: float = opt(100.0, "1 / (2 sigma^2) of the Gaussian likelihood of the parameters", above=0)
    w_kl: float = opt(1.0, "weight of KL(q || flow prior) per latent element")
    w_sync: float = opt(0.1, "weight of -log D_sync of the prediction (0 drops it)")
    w_mesh: float = opt(0.0, "weight of the vertex L2 loss (cm^2) used in place of the sync loss (--no-sync)")
    w_emotion: float = opt(
        0.1, "weight of 1 - cos of EDE video features of rendered GT vs prediction (0 drops it)"
    )
    sync_windows: int = opt(4, "5-frame windows per clip scored by the sync expert")
    emotion_clips: int = opt(4, "clips per batch rendered for the emotion loss")
    train: TrainConfig = field(default_factory=TrainConfig)

    def check(self) -> None:
        """Settings that hold together (each alone is held to its limits by `--set`)."""
        if self.window % self.model.stride:
            raise TalkfaceError(
                f"--set window={self.window}: must be a multiple of model.stride ({self.model.stride})"
            )


def build(config: dict) -> EMG:
    """Registry builder: the EMG of a saved `train-emg` config."""
    return EMG(from_dict(EMGStage, config).model)
