"""A tiny HuBERT saved as `save_pretrained` writes it: HuBERTs are never downloaded here."""

from __future__ import annotations

from pathlib import Path

import torch


def make_hubert(folder: Path, width: int, seed: int = 0) -> Path:
    """A one-layer HuBERT `width` wide with random weights (`seed`) saved to `folder`."""
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(seed)
    cfg = HubertConfig(
        hidden_size=width,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(16,) * 7,
    )
    HubertModel(cfg).save_pretrained(folder)
    return folder
