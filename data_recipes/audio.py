"""Audio-only clips (no face parameters; they train the EDE audio branch), shared by recipes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from talkface_cli.audio.io import load_audio
from talkface_cli.data.store import write_clip
from talkface_cli.errors import TalkfaceError

from .base import Job
from .packed import local_copy

SILENCE_PEAK = 1e-3  # a clip whose peak stays below this (-60 dBFS) is refused as silent


def refuse_silence(audio: np.ndarray, source: str, why: str = "") -> None:
    """A one-line error for a clip's sound that is silent (a muted export, a camera whose sound
    went to another recorder): an emotion learnt of silence, or a face talking over it."""
    if float(np.abs(audio).max(initial=0.0)) < SILENCE_PEAK:
        raise TalkfaceError(f"{source}: the audio is silent (peak below -60 dBFS){why}")


def audio_clip(job: Job, out: Path) -> None:
    with local_copy(job.source, out / "tracks") as path:  # a file, or an archive's member (RAVDESS zips)
        audio = load_audio(path)
    refuse_silence(audio, job.source)
    write_clip(out, {"id": job.id, "source": job.source, **job.labels}, {"audio": audio})
