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
    return home_cache(store) / Path(*parts)


def home_cache(store: Path) -> Path:
    """Where a store's derived arrays go when the store cannot be written."""
    where = Path(store).resolve()
    key = hashlib.sha256(str(where).encode()).hexdigest()[:12]
    return default_home() / "cache" / f"{where.name}-{key}"


def forget(store: Path, clip_id: str) -> None:
    """Remove a clip's cached arrays of every kind (`<kind>/<clip id>.npy`), in the store and under
    the home cache: its clip changed."""
    for root in (Path(store) / "features", home_cache(store)):
        for kind in root.iterdir() if root.is_dir() else ():
            if kind.is_dir():
                (kind / f"{clip_id}.npy").unlink(missing_ok=True)


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
