"""Shared fixtures: an isolated registry home, quiet progress bars, paths into ../shared."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TALKFACE_SHARED", ROOT.parent / "shared"))
os.environ.setdefault("TALKFACE_NO_PROGRESS", "1")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# A shell that starts a job in the background (nohup, `make test &`, some CI runners) makes it
# ignore SIGINT, and children inherit that: the tests that stop a command with Ctrl-C would wait
# for it in vain. A handled signal is reset to the default in a child, so handle it here.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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


@pytest.fixture(scope="session")
def chain(tmp_path_factory):
    """(registry home, store) with ede/t, sync/t and emg/t trained on a 3-speaker synthetic store.
    Tests that use it point TALKFACE_HOME at the home (see `use_chain`)."""
    from tests.chain import synth_store, train_chain

    root = tmp_path_factory.mktemp("chain")
    home = root / "home"
    old = os.environ.get("TALKFACE_HOME")
    os.environ["TALKFACE_HOME"] = str(home)
    try:
        store = synth_store(root / "store")
        metrics = train_chain(store)
    finally:
        os.environ["TALKFACE_HOME"] = old or ""
    return home, store, metrics


@pytest.fixture
def use_chain(chain, monkeypatch):
    home, store, metrics = chain
    monkeypatch.setenv("TALKFACE_HOME", str(home))
    return home, store, metrics
