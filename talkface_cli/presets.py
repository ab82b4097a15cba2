"""Every named preset of every stage, in one place (`tiny`: tests and CPU demos; `paper`: the
paper's sizes and hyper-parameters). Each has a one-line description (`talkface ... --help`)."""

from __future__ import annotations

from .config import TrainConfig, register_preset
from .models.ede import EDEConfig, EDEStage
from .models.emg import EMGConfig, EMGStage
from .models.sync import SyncConfig, SyncStage


@register_preset(
    "ede",
    "tiny",
    "pooling conv log-mel front (rumble and steady noise removed) + 2-layer HuBERT transformer (W=128), "
    "narrow ResNet-18 on 64px renders",
)
def ede_tiny() -> EDEStage:
    return EDEStage(
        model=EDEConfig(width=128, front="logmel", denoise=True, highpass=True, layers=2, heads=4, ffn=256,
                        conv_pos=16, dropout=0.1, front_layers=4, front_width=128, front_pool=3,
                        video_widths=(16, 32, 64, 128), image_size=64, video_stride=5),
        window=80,
        speed_perturb=0.1,
        video_per_batch=16,
        train=TrainConfig(steps=1200, batch_size=32, lr=1e-3, warmup_steps=20, schedule="cosine",
                          grad_clip=1.0, log_every=10, val_every=0, ckpt_every=100),
    )  # fmt: skip


@register_preset(
    "ede",
    "paper",
    "HuBERT-large audio branch (W=1024, waveform; --hubert DIR starts it from pretrained weights), "
    "ResNet-18 on 128px renders; "
    "Adam 5e-5, batch 30, 10k steps",
)
def ede_paper() -> EDEStage:
    return EDEStage(
        model=EDEConfig(),
        window=100,
        train=TrainConfig(
            steps=10_000, batch_size=30, lr=5e-5, log_every=50, val_every=1000, ckpt_every=1000
        ),
    )


@register_preset(
    "sync", "tiny", "3 Conv1d+BN+ReLU layers of 128 channels per encoder; 2000 steps of 64 pairs"
)
def sync_tiny() -> SyncStage:
    return SyncStage(
        model=SyncConfig(hidden=128, width=128, layers=3),
        train=TrainConfig(steps=2000, batch_size=64, lr=1e-3, warmup_steps=20, schedule="cosine",
                          grad_clip=1.0, log_every=10, val_every=500, ckpt_every=500),
    )  # fmt: skip


@register_preset("sync", "paper", "4 Conv1d+BN+ReLU layers of 512 channels per encoder; Adam 1e-4, 20k steps")
def sync_paper() -> SyncStage:
    return SyncStage(
        model=SyncConfig(hidden=512, width=512, layers=4),
        train=TrainConfig(
            steps=20_000, batch_size=64, lr=1e-4, log_every=50, val_every=1000, ckpt_every=1000
        ),
    )


@register_preset(
    "emg", "tiny", "WaveNets of 6 layers x 64 channels, 3 flows; 48-frame windows, batch 16, 4000 steps"
)
def emg_tiny() -> EMGStage:
    return EMGStage(
        model=EMGConfig(hidden=64, layers=6, flows=3),
        window=48,
        train=TrainConfig(steps=4000, batch_size=16, lr=3e-3, warmup_steps=20, schedule="cosine",
                          grad_clip=1.0, log_every=10, val_every=0, ckpt_every=100),
    )  # fmt: skip


@register_preset(
    "emg", "paper", "WaveNets of 8 layers x 256 channels, 4 flows; Adam 5e-5, batch 50, 30k steps"
)
def emg_paper() -> EMGStage:
    return EMGStage(
        model=EMGConfig(),
        window=100,
        train=TrainConfig(
            steps=30_000, batch_size=50, lr=5e-5, log_every=50, val_every=1000, ckpt_every=1000
        ),
    )
