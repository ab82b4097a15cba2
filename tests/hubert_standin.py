"""A tiny HuBERT saved as `save_pretrained` writes it: HuBERTs are never downloaded here."""

from __future__ import annotations

from pathlib import Path

import torch


def make_hubert(folder: Path, width: int, seed: int = 0, ctc: bool = False, **arch: object) -> Path:
    """A one-layer HuBERT `width` wide with random weights (`seed`) saved to `folder`, with a CTC
    head if `ctc` (as the fine-tuned HuBERT-large-ls960-ft); `arch`: other HubertConfig settings
    (HuBERT-large's `do_stable_layer_norm`, ...)."""
    from transformers import HubertConfig, HubertForCTC, HubertModel
    from transformers.utils import logging as hf_logging

    torch.manual_seed(seed)
    cfg = HubertConfig(
        hidden_size=width,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(16,) * 7,
        vocab_size=32,
        **arch,
    )
    hf_logging.disable_progress_bar()
    (HubertForCTC(cfg) if ctc else HubertModel(cfg)).save_pretrained(folder)
    return folder
