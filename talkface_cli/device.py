"""Device choice: CUDA when present, then Apple MPS, else CPU; never hard-coded."""

from __future__ import annotations

import torch

from .errors import TalkfaceError


def resolve_device(name: str | None = None) -> torch.device:
    """`None`/"auto" picks CUDA, then MPS, then CPU; any other name is validated and used."""
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise TalkfaceError(f"--device {name!r}: not a device name ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TalkfaceError(f"--device {name}: CUDA is not available on this machine")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise TalkfaceError(f"--device {name}: MPS is not available on this machine")
    return dev
