"""Shared fixtures: an isolated registry home, quiet progress bars, paths into ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TALKFACE_SHARED", ROOT.parent / "shared"))
os.environ.setdefault("TALKFACE_NO_PROGRESS", "1")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def talkface_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("TALKFACE_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared assets not found at {SHARED}")
    return SHARED
