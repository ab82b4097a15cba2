"""A store's derived arrays (content features, renders), cached so that training and evaluation
compute each once: beside the store (`<store>/features/...`), or, when the store cannot be written
(a colleague's store, a read-only dataset mount), under `$TALKFACE_HOME/cache/`."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..fsutil import atomic_write_bytes, can_create
from ..registry import default_home


def cache_path(store: Path, *parts: str) -> Path:
    """`<store>/features/<parts>` if that file exists or could be written; else the same parts
    under `$TALKFACE_HOME/cache/<store folder name>-<hash of its absolute path>/`."""
    in_store = Path(store) / "features" / Path(*parts)
    if in_store.is_file() or can_create(in_store):
        return in_store
    where = Path(store).resolve()
    key = hashlib.sha256(str(where).encode()).hexdigest()[:12]
    return default_home() / "cache" / f"{where.name}-{key}" / Path(*parts)


def cached_array(path: Path, rows: int, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The array saved at `path` if it has `rows` rows, else `compute()`, saved there first."""
    if path.is_file():
        saved = np.load(path, allow_pickle=False)
        if len(saved) == rows:
            return saved
    array = compute()
    buf = io.BytesIO()
    np.save(buf, array)
    atomic_write_bytes(path, buf.getvalue())
    return array
