"""Reading speech as users have it: other rates, stereo, and containers libsndfile cannot open."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from talkface_cli.audio.io import ffmpeg_exe, load_audio
from talkface_cli.errors import TalkfaceError


def test_stereo_44k_and_m4a_read_as_the_same_16k_mono_speech(shared, tmp_path):
    flac = sorted((shared / "data/ravdess/Audio_Speech_16k/Actor_07").glob("*.flac"))[19]
    ref = load_audio(flac)
    wanted = {"st.wav": ["-ar", "44100", "-ac", "2"], "phone.m4a": ["-c:a", "aac", "-b:a", "96k"]}
    for name, args in wanted.items():
        path = tmp_path / name
        subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(flac), *args, str(path)], check=True)
        got = load_audio(path)
        assert got.dtype == np.float32 and got.ndim == 1
        assert abs(len(got) - len(ref)) < 0.05 * 16000, name  # aac adds priming samples at most
        # the encoder's delay is a few ms: compare at the best lag within 10 ms
        n = min(len(got), len(ref)) - 320
        corr = max(np.corrcoef(got[lag : lag + n], ref[:n])[0, 1] for lag in range(0, min(160, len(got) - n)))
        assert corr > 0.97, (name, corr)


def test_unreadable_audio_is_one_line_naming_the_file(tmp_path):
    junk = tmp_path / "notes.wav"
    junk.write_text("not audio")
    with pytest.raises(TalkfaceError, match=r"notes\.wav: not a readable audio file"):
        load_audio(junk)
    with pytest.raises(TalkfaceError, match=r"gone\.m4a: no such file"):
        load_audio(tmp_path / "gone.m4a")
    silent_film = tmp_path / "film.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=1:size=64x64", str(silent_film)],
        check=True,
    )
    with pytest.raises(TalkfaceError, match=r"film\.mp4: the file has no audio track$"):
        load_audio(silent_film)
