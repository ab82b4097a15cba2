"""Standing rules checked over the source: no torchaudio, no hard-coded CUDA, no raw pickle."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [p for d in ("talkface_cli", "data_recipes", "bench") for p in (ROOT / d).rglob("*.py")]


def _grep(pattern: str) -> list[str]:
    rx = re.compile(pattern)
    return [
        f"{p}:{i}" for p in SOURCES for i, line in enumerate(p.read_text().splitlines(), 1) if rx.search(line)
    ]


def test_sources_found():
    assert len(SOURCES) > 10


def test_no_torchaudio_import():
    assert not _grep(r"^\s*(import|from)\s+torchaudio")


def test_no_hard_coded_cuda():
    assert not _grep(r"\.cuda\(\)|device\s*=\s*['\"]cuda")


def test_no_unrestricted_unpickling():
    assert not _grep(r"(pickle|cPickle)\.loads?\(") and not _grep(r"torch\.load\((?!.*weights_only=True)")
