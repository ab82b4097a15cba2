"""Nested training state (optimiser, scheduler, RNG) as safetensors + JSON, never pickle.

Tensors and numpy arrays go to a safetensors file under their path in the structure; everything
else is JSON, with tuples and non-string dict keys tagged so the structure round-trips exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from ..fsutil import save_tensors, utf8_path


def encode(obj: Any, tensors: dict[str, torch.Tensor], path: str = "s") -> Any:
    if isinstance(obj, torch.Tensor):
        tensors[path] = obj.detach().to("cpu").contiguous().clone()
        return {"__tensor__": path}
    if isinstance(obj, np.ndarray):
        tensors[path] = torch.from_numpy(np.ascontiguousarray(obj)).clone()
        return {"__ndarray__": path}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: encode(v, tensors, f"{path}.{k}") for k, v in obj.items()}
        return {"__items__": [[k, encode(v, tensors, f"{path}.{i}")] for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint")


def decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return tensors[obj["__ndarray__"]].numpy()
        if "__tuple__" in obj:
            return tuple(decode(v, tensors) for v in obj["__tuple__"])
        if "__items__" in obj:
            return {k: decode(v, tensors) for k, v in obj["__items__"]}
        return {k: decode(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode(v, tensors) for v in obj]
    return obj


def save_state(obj: Any, stem: Path) -> None:
    """Write `stem.json` + `stem.safetensors` (into a folder that is renamed into place later)."""
    tensors: dict[str, torch.Tensor] = {}
    tree = encode(obj, tensors)
    save_tensors(tensors, stem.with_suffix(".safetensors"))
    stem.with_suffix(".json").write_text(json.dumps(tree))


def load_state(stem: Path) -> Any:
    with utf8_path(stem.with_suffix(".safetensors")) as name:
        tensors = load_file(name)
    return decode(json.loads(stem.with_suffix(".json").read_text()), tensors)
