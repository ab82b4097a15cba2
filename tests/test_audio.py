"""Reading speech as users have it: other rates, stereo, and containers libsndfile cannot open."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from talkface_cli.audio.io import audio_delay, ffmpeg_exe, is_video, load_audio, to_mono
from talkface_cli.audio.riff import dialogue_channel, unfinished_wav
from talkface_cli.errors import TalkfaceError
from talkface_cli.track.video import open_video


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


def test_a_dead_or_inverted_channel_neither_halves_nor_silences_the_speech(shared, tmp_path):
    """Camera audio with one input unused, and stereo with one channel's polarity inverted (whose
    plain mean is silence), read as the speech itself, from wav and through ffmpeg (m4a, mp4)."""
    ref = load_audio(sorted((shared / "data/ravdess/Audio_Speech_16k/Actor_07").glob("*.flac"))[19])

    def rms_db(x):
        return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)))

    for name, right in (("dead", np.zeros_like(ref)), ("inverted", -ref), ("same", ref)):
        wav = tmp_path / f"{name}.wav"
        sf.write(wav, np.stack([ref, right], 1), 16000, subtype="FLOAT")
        m4a = tmp_path / f"{name}.m4a"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(wav), "-b:a", "128k", str(m4a)], check=True)
        np.testing.assert_array_equal(load_audio(wav), ref)
        got = load_audio(m4a)  # aac's priming delay: compare levels, and shapes at the best lag
        n = len(ref) - 400
        corr = max(np.corrcoef(got[lag : lag + n], ref[:n])[0, 1] for lag in range(0, 400))
        assert abs(rms_db(got) - rms_db(ref)) < 0.5 and corr > 0.97, (name, rms_db(got) - rms_db(ref), corr)
    rng = np.random.default_rng(0)
    two = rng.standard_normal((1000, 2)).astype(np.float32)  # independent channels are averaged
    np.testing.assert_array_equal(to_mono(two), two.mean(1))


def test_unreadable_audio_is_one_line_naming_the_file(tmp_path):
    junk = tmp_path / "notes.wav"
    junk.write_text("not audio")
    with pytest.raises(TalkfaceError, match=r"notes\.wav: not a readable audio file"):
        load_audio(junk)
    with pytest.raises(TalkfaceError, match=r"gone\.m4a: no such file"):
        load_audio(tmp_path / "gone.m4a")
    (tmp_path / "takes.wav").mkdir()
    with pytest.raises(TalkfaceError, match=r"takes\.wav: a folder, not a file$"):
        load_audio(tmp_path / "takes.wav")
    silent_film = tmp_path / "film.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=1:size=64x64", str(silent_film)],
        check=True,
    )
    with pytest.raises(TalkfaceError, match=r"film\.mp4: the file has no audio track$"):
        load_audio(silent_film)
    speech = np.zeros((32000, 2), np.float32)
    speech[8000:8010, 1] = np.nan  # a float file from a synthesis that failed for a moment
    sf.write(tmp_path / "tts.wav", speech, 16000, subtype="FLOAT")
    with pytest.raises(
        TalkfaceError, match=r"tts\.wav: 10 sample\(s\) NaN or infinite, the first at 0\.50 s$"
    ):
        load_audio(tmp_path / "tts.wav")


def test_content_features_do_not_move_with_the_recording_gain(shared):
    import torch

    from talkface_cli.audio.features import active_level_db, content_encoder, encode

    # active level: the speech's, whatever the share of silence around it
    tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)
    for pad in (0, 16000, 64000):
        x = torch.from_numpy(np.concatenate([np.zeros(pad), tone, np.zeros(pad)])).float()
        assert abs(float(active_level_db(x)) - 20 * np.log10(0.1 / np.sqrt(2))) < 0.1, pad
    flac = sorted((shared / "data/ravdess/Audio_Speech_16k/Actor_09").glob("*.flac"))[19]
    speech = load_audio(flac)  # active level -28 dBFS (RAVDESS's median is -40)
    level, legacy = content_encoder(), content_encoder("logmel")
    for gain in (0.1, 10.0):  # -20 dB, +20 dB
        assert np.abs(encode(level, speech * gain) - encode(level, speech)).max() < 1e-3, gain
        assert np.abs(encode(legacy, speech * gain) - encode(legacy, speech)).mean() > 1.0, gain
    assert level.key != legacy.key  # their cached features never mix


def test_runs_of_keeps_only_long_runs():
    import torch

    from talkface_cli.audio.features import runs_of

    mask = torch.tensor([1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1], dtype=torch.bool)
    want = [0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1]
    assert runs_of(mask, 3).int().tolist() == want
    assert not runs_of(mask, 5).any()


def test_content_features_lose_a_steady_noise_floor(shared):
    import torch

    from talkface_cli.audio.features import active_level_db, content_encoder, encode

    flac = sorted((shared / "data/ravdess/Audio_Speech_16k/Actor_09").glob("*.flac"))[19]
    speech = load_audio(flac)  # 1 s of near silence, then the sentence
    clean, level = content_encoder("logmel-clean"), content_encoder("logmel-level")  # the noise step alone
    assert clean.key != level.key
    t = np.arange(len(speech)) / 16000
    power = 10 ** (float(active_level_db(torch.from_numpy(speech))) / 10)
    noises = {
        "mains hum": np.sin(2 * np.pi * 50 * t) + 0.5 * np.sin(2 * np.pi * 150 * t),
        "hiss": np.random.default_rng(0).standard_normal(len(speech)),
    }
    for name, noise in noises.items():
        noisy = speech + noise * np.sqrt(power / np.mean(noise**2) / 10**1.5)  # 15 dB under the speech
        gone = np.abs(encode(clean, noisy) - encode(clean, speech)).mean()
        kept = np.abs(encode(level, noisy) - encode(level, speech)).mean()
        assert gone < 0.75 * kept, (name, gone, kept)  # measured: 0.65x (hum), 0.53x (hiss)
    # no pause of 160 ms (speech-like loudness swings at 4 Hz): nothing is taken for noise
    n = np.arange(48000)
    swings = np.random.default_rng(1).standard_normal(48000) * (1.2 + np.sin(2 * np.pi * 4 * n / 16000)) / 10
    assert np.array_equal(encode(clean, swings), encode(level, swings))


def test_noise_floor_estimate_ignores_zero_padding(shared):
    """Training windows of short clips are zero-padded: the padding must not pass for the pause."""
    import torch

    from talkface_cli.audio.features import LogMel, encode

    flac = sorted((shared / "data/ravdess/Audio_Speech_16k/Actor_09").glob("*.flac"))[19]
    speech = load_audio(flac)[: 50 * 640]  # 2 s: the opening near-silence and the first words
    hum = np.sin(2 * np.pi * 50 * np.arange(len(speech)) / 16000) * 0.01
    noisy = (speech + hum).astype(np.float32)
    padded = np.concatenate([noisy, np.zeros(30 * 640, np.float32)])
    plain, front = LogMel(), LogMel(denoise=True)  # front: the tiny EDE's
    # padding moves the features only as much as it moves the plain log-mel's (the frame grid
    # differs by a fraction of a frame), far less than the noise removal does
    moved = lambda f: np.abs(encode(f, padded, 80)[:100] - encode(f, noisy, 50)).mean()  # noqa: E731
    removal = np.abs(encode(front, noisy, 50) - encode(plain, noisy, 50)).mean()
    assert moved(front) < moved(plain) + 0.02 * removal  # measured: 0.1675 vs 0.1670; removal 0.31
    silence = torch.from_numpy(encode(front, np.zeros(16000, np.float32)))
    assert torch.equal(silence, torch.full((50, 80), float(np.log(np.float32(1e-6)))))


def test_a_dc_offset_or_rumble_leaves_the_features_alone(shared):
    """Nothing of the voice lies below 30 Hz: a DC offset (a cheap sound card) or a slow drift is
    removed before anything else. Without that, a DC of 0.05 counted as speech in the level and
    moved the content features by 0.64 on average (the EDE front's by 0.25); the lips moved half
    as much."""
    import scipy.signal
    import torch

    from talkface_cli.audio.features import LogMel, content_encoder, encode, rumble_removed

    flac = sorted((shared / "data/ravdess/Audio_Speech_16k/Actor_09").glob("*.flac"))[19]
    speech = load_audio(flac)
    drift = 0.05 + 0.02 * np.sin(2 * np.pi * 3 * np.arange(len(speech)) / 16000)
    offset = (speech + drift).astype(np.float32)
    sos = scipy.signal.butter(2, 30, "highpass", fs=16000, output="sos")  # zero phase, run both ways
    want = scipy.signal.sosfiltfilt(sos, offset.astype(np.float64), padlen=4000)
    assert np.abs(rumble_removed(torch.from_numpy(offset)).numpy() - want).max() < 1e-7
    for front in (content_encoder(), LogMel(denoise=True, highpass=True)):  # content, the tiny EDE's
        assert np.abs(encode(front, offset) - encode(front, speech)).mean() < 0.01  # measured 0.0008


def test_long_audio_loses_its_rumble_in_pieces_as_if_whole(shared, monkeypatch):
    """Audio longer than a piece is filtered in overlapping pieces (bounded memory for hours of
    speech), matching scipy's whole-signal sosfiltfilt as the one-piece filter does."""
    import scipy.signal
    import torch

    import talkface_cli.audio.features as features

    monkeypatch.setattr(features, "RUMBLE_CHUNK", 40000)  # 2.5 s pieces, 1 s context either side
    speech = np.concatenate(
        [
            load_audio(f)
            for f in sorted((shared / "data/ravdess/Audio_Speech_16k/Actor_03").glob("*.flac"))[:4]
        ]
    )
    wave = (speech + 0.05 + 0.02 * np.sin(2 * np.pi * 3 * np.arange(len(speech)) / 16000)).astype(np.float32)
    assert len(wave) > 4 * 40000
    sos = scipy.signal.butter(2, 30, "highpass", fs=16000, output="sos")
    want = scipy.signal.sosfiltfilt(sos, wave.astype(np.float64), padlen=4000)
    assert np.abs(features.rumble_removed(torch.from_numpy(wave)).numpy() - want).max() < 1e-7
    # the level check's frame powers, the filtered audio never held whole: whole frames a piece
    power = features.rumble_removed_power(torch.from_numpy(wave)).numpy()
    whole = features.frame_power(torch.from_numpy(want.copy())).numpy()
    assert power.shape == whole.shape == (len(wave) // 320,) and np.allclose(power, whole, rtol=1e-5)


def test_long_clips_are_encoded_in_pieces_for_prep_and_training_too(shared, tmp_path):
    """An HDTF video is one clip of minutes: `prep features` and training encoded it in one pass
    (a HuBERT-large over 2 minutes peaks 2.6 GB above its weights), only `animate` went in 30 s
    pieces. Now every path does, each piece with 1 s of context: close to one pass (each pass
    stretches its own frames onto the 50 Hz grid, so they differ by up to half a frame)."""
    import torch

    from data_recipes.base import PrepOptions, run_recipe
    from data_recipes.folder import Folder
    from talkface_cli.audio.features import LogMel, encode, precompute

    class Spy(LogMel):  # the plain log-mel front, recording the length of each pass
        lengths: list[int] = []

        def forward(self, audio: torch.Tensor, frames: int) -> torch.Tensor:
            self.lengths.append(len(audio))
            return super().forward(audio, frames)

    flacs = sorted((shared / "data/ravdess/Audio_Speech_16k/Actor_03").glob("*.flac"))[:20]
    speech = np.concatenate([load_audio(f) for f in flacs])  # about 75 s
    (tmp_path / "in/ann").mkdir(parents=True)
    sf.write(tmp_path / "in/ann/long.wav", speech, 16000, subtype="FLOAT")  # as read, to the bit
    run_recipe(Folder(), tmp_path / "in", tmp_path / "s", PrepOptions())
    spy = Spy()
    precompute(tmp_path / "s", spy, disable_progress=True)
    (cached,) = (tmp_path / "s/features").glob("*/*.npy")
    assert len(spy.lengths) == 3 and max(spy.lengths) <= 32 * 16000
    frames = round(len(speech) / 640)
    whole = LogMel()(torch.from_numpy(speech), 2 * frames).numpy()
    assert np.load(cached).shape == whole.shape == (2 * frames, 80)
    assert np.corrcoef(np.load(cached).ravel(), whole.ravel())[0, 1] > 0.98
    # asked for another frame count (a video's), the pieces are stretched to it as one pass is
    other = encode(LogMel(), speech, frames + 3)
    assert other.shape == (2 * frames + 6, 80)
    assert (
        np.corrcoef(other.ravel(), LogMel()(torch.from_numpy(speech), 2 * frames + 6).numpy().ravel())[0, 1]
        > 0.98
    )


def test_a_video_file_without_a_picture_is_told_from_a_video(shared, tmp_path):
    """Voice recorders and downloaders save speech as .mp4 / .webm, some with cover art: none of
    these is a video to track."""
    video = shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"
    flac = sorted((shared / "data/ravdess/Audio_Speech_16k/Actor_07").glob("*.flac"))[0]
    ff = [ffmpeg_exe(), "-v", "error"]
    subprocess.run(
        [*ff, "-f", "lavfi", "-i", "color=red:s=64x64", "-frames:v", "1", str(tmp_path / "c.png")], check=True
    )
    made = {
        "memo.mp4": ["-i", flac, "-c:a", "aac"],
        "dl.webm": ["-i", flac, "-c:a", "libopus"],
        "art.mp4": ["-i", flac, "-i", tmp_path / "c.png", "-map", "0:a", "-map", "1:v", "-c:a", "aac", "-c:v",
                    "mjpeg", "-disposition:v", "attached_pic"],
    }  # fmt: skip
    for name, args in made.items():
        subprocess.run([*ff, *map(str, args), str(tmp_path / name)], check=True)
        assert not is_video(tmp_path / name), name
    assert is_video(video)


def test_a_name_with_a_colon_is_a_file_not_a_protocol(shared, tmp_path, monkeypatch):
    """ffmpeg and OpenCV take a relative "take:1.m4a" as the URL of a protocol "take" ("Protocol
    not found"): speech, videos and references so named were refused. macOS and Linux allow the
    colon in a file's name, and recorders and people put times and take numbers in them."""
    video = shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"
    monkeypatch.chdir(tmp_path)
    sound = [ffmpeg_exe(), "-v", "error", "-i", str(video), "-vn", "-c:a", "aac", "file:take:1.m4a"]
    subprocess.run(sound, check=True)
    shutil.copy(video, "take:2.mp4")
    assert abs(len(load_audio(Path("take:1.m4a"))) - len(load_audio(video))) < 0.05 * 16000
    assert is_video(Path("take:2.mp4"))
    cap, fps, n = open_video(Path("take:2.mp4"))
    cap.release()
    assert n == 97 and audio_delay(Path("take:2.mp4")) == audio_delay(video)


def test_a_name_that_is_not_utf8_opens(shared, tmp_path):
    """An old archive unpacked on Linux leaves Latin-1 names ("caf\xe9.wav" as bytes): soundfile
    raised a traceback on them and OpenCV crashed the process (a segmentation fault)."""
    video = shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"
    flac = sorted((shared / "data/ravdess/Audio_Speech_16k/Actor_07").glob("*.flac"))[0]
    folder = tmp_path / os.fsdecode(b"r\xe9unions")  # the folder's name too
    try:
        folder.mkdir()
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system takes UTF-8 names only")
    sound, picture = folder / os.fsdecode(b"caf\xe9.flac"), folder / os.fsdecode(b"vid\xe9o.mp4")
    shutil.copy(flac, sound)
    shutil.copy(video, picture)
    assert np.array_equal(load_audio(sound), load_audio(flac))
    assert np.array_equal(load_audio(picture), load_audio(video)) and is_video(picture)
    cap, fps, n = open_video(picture)
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (720, 1280, 3) and n == 97 and audio_delay(picture) == audio_delay(video)


def test_a_silent_first_track_gives_way_to_the_speech_track(shared, tmp_path):
    """A screen recorder's file: track 1 (the default) the computer's silent sound, track 2 the
    microphone. The speech is read, not the silence; a file with one silent track stays silent."""
    flac = sorted((shared / "data/ravdess/Audio_Speech_16k/Actor_07").glob("*.flac"))[19]
    silence = ["-f", "lavfi", "-i", "anullsrc=r=16000:cl=stereo"]
    two, one = tmp_path / "rec.mkv", tmp_path / "mute.mkv"
    ff = [ffmpeg_exe(), "-v", "error"]
    tracks = ["-map", "0:a", "-map", "1:a", "-disposition:a:0", "default", "-disposition:a:1", "0"]
    subprocess.run(
        [*ff, *silence, "-i", str(flac), *tracks, "-c:a", "pcm_s16le", "-shortest", str(two)], check=True
    )
    subprocess.run([*ff, *silence, "-t", "2", "-c:a", "pcm_s16le", str(one)], check=True)
    ref = load_audio(flac)
    got = load_audio(two)
    assert len(got) == len(ref) and np.allclose(got, ref, atol=1e-6)
    assert len(load_audio(one)) == 32000 and not load_audio(one).any()


def test_a_recording_decoded_by_ffmpeg_is_not_held_whole(tmp_path):
    """An m4a (a phone's voice memo, a podcast) or a video's sound goes through ffmpeg, whose
    decoded bytes were held in memory: 0.46 GB an hour of stereo beside what is made of them. They
    go through a temporary file now: the peak stays under 1.5 times the decoded size (it was 2),
    and no temporary file is left."""
    import tempfile
    import tracemalloc
    from pathlib import Path

    rng = np.random.default_rng(0)
    stereo = (0.1 * rng.standard_normal((120 * 16000, 2))).astype(np.float32)  # 2 minutes
    sf.write(tmp_path / "two.wav", stereo, 16000)
    m4a = tmp_path / "two.m4a"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "two.wav"), "-c:a", "aac", str(m4a)], check=True
    )
    before = set(Path(tempfile.gettempdir()).glob("talkface-audio-*"))
    tracemalloc.start()
    got = load_audio(m4a)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(got) == 120 * 16000 and 0.05 < got.std() < 0.1  # the two channels' mean
    assert peak < 1.5 * stereo.nbytes, (peak, stereo.nbytes)  # 16 MB against 15 MB decoded; was 31
    assert set(Path(tempfile.gettempdir()).glob("talkface-audio-*")) == before


def test_a_long_recording_is_read_in_blocks_never_whole(tmp_path, monkeypatch):
    """An hour of 48 kHz stereo took 4.7 GiB to load: the file's samples were held as float32 at
    their own rate and width three times over. Read in blocks, the peak stays under one such copy,
    and the samples are those of the whole file mixed and resampled at once."""
    import tracemalloc

    import soxr

    from talkface_cli.audio import io

    rng = np.random.default_rng(0)
    stereo = (0.1 * rng.standard_normal((120 * 48000, 2))).astype(np.float32)  # 2 minutes
    sf.write(tmp_path / "long.wav", stereo, 48000, subtype="FLOAT")
    whole = soxr.resample(stereo.mean(1), 48000, 16000, quality="HQ")
    tracemalloc.start()
    got = load_audio(tmp_path / "long.wav")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(got, whole)
    assert peak < stereo.nbytes, (peak, stereo.nbytes)  # 46 MB

    monkeypatch.setattr(io, "BLOCK", 1000)  # a NaN in a later block is found where it is
    stereo[90000:90010, 0] = np.nan
    sf.write(tmp_path / "nan.wav", stereo[:200000], 48000, subtype="FLOAT")
    with pytest.raises(
        TalkfaceError, match=r"nan\.wav: 10 sample\(s\) NaN or infinite, the first at 1\.88 s$"
    ):
        load_audio(tmp_path / "nan.wav")
    np.testing.assert_array_equal(load_audio(tmp_path / "long.wav"), whole)  # blocks of any size


def test_an_mp3_written_to_a_pipe_reads_as_many_samples_as_it_holds(shared, tmp_path):
    """ffmpeg writes no Xing header to a pipe, so the mp3's header promises more frames than it
    holds: read by `SoundFile.blocks`, the last block's missing frames were uninitialised memory
    (NaN at times: "3 sample(s) NaN or infinite"), 234 frames too many here."""
    flac = sorted((shared / "data/ravdess/Audio_Speech_16k/Actor_01").glob("*.flac"))[0]
    cmd = [ffmpeg_exe(), "-v", "error", "-i", str(flac), "-f", "mp3", "-"]
    (tmp_path / "piped.mp3").write_bytes(subprocess.run(cmd, capture_output=True, check=True).stdout)
    held = sf.read(tmp_path / "piped.mp3", dtype="float32")[0]  # reads what it decodes
    got = load_audio(tmp_path / "piped.mp3")
    assert len(got) == len(held) and np.isfinite(got).all()
    np.testing.assert_allclose(got, held, atol=1e-6)  # decoded again after a seek: within rounding


def test_a_recording_whose_recorder_stopped_is_read_to_its_end(tmp_path):
    """A recorder stopped before it finished its WAV (killed, crashed, its power lost) leaves the
    header's sizes as they were: 0, or the first block's (Python's `wave` writer until it is
    closed). libsndfile and ffmpeg read what the header says: "the audio is empty", or 1 s of 10.
    Such a file is read to its end; a finished file's chunks after its sound are not sound."""
    pcm = np.random.default_rng(0).normal(0, 3000, 16000 * 10).astype("<i2")  # 10 s at 16 kHz
    (tmp_path / "pcm.raw").write_bytes(pcm.tobytes())
    whole = tmp_path / "whole.wav"
    sf.write(whole, pcm, 16000, subtype="PCM_16")
    expected = load_audio(whole)
    killed = tmp_path / "killed.wav"  # a second at a time, as a recording script writes, then killed
    script = (
        "import os, sys, wave\nw = wave.open(sys.argv[1], 'wb')\nw.setnchannels(1)\nw.setsampwidth(2)\n"
        "w.setframerate(16000)\ndata = open(sys.argv[2], 'rb').read()\nfor k in range(10):\n"
        "    w.writeframesraw(data[k * 32000 : (k + 1) * 32000])\nos._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, killed, tmp_path / "pcm.raw"], check=True)
    zeroed = bytearray(whole.read_bytes())  # sizes never written
    at = zeroed.index(b"data")
    zeroed[4:8] = zeroed[at + 4 : at + 8] = bytes(4)
    (tmp_path / "zeroed.wav").write_bytes(zeroed)
    assert sf.info(killed).frames == 16000 and sf.info(tmp_path / "zeroed.wav").frames == 0  # what was read
    for path in (killed, tmp_path / "zeroed.wav"):
        np.testing.assert_array_equal(load_audio(path), expected)
    info = b"INFOISFT" + struct.pack("<I", 6) + b"hello\0"  # metadata after the sound, as editors write it
    # 8-bit and odd: a pad byte before the metadata, or none where a writer left it out
    for subtype, frames, cut in (("PCM_16", 16000, 0), ("PCM_U8", 16001, 0), ("PCM_U8", 16001, 1)):
        sf.write(tmp_path / "plain.wav", pcm[:frames], 16000, subtype=subtype)
        sound = (tmp_path / "plain.wav").read_bytes()
        tagged = bytearray(sound[: len(sound) - cut]) + b"LIST" + struct.pack("<I", len(info)) + info
        tagged[4:8] = struct.pack("<I", len(tagged) - 8)
        (tmp_path / "tagged.wav").write_bytes(tagged)
        assert not unfinished_wav(tmp_path / "tagged.wav")
        np.testing.assert_array_equal(load_audio(tmp_path / "tagged.wav"), load_audio(tmp_path / "plain.wav"))
    (tmp_path / "empty.wav").write_bytes(zeroed[: at + 8])  # stopped before any sound: empty, as before
    with pytest.raises(TalkfaceError, match="the audio is empty"):
        load_audio(tmp_path / "empty.wav")


def test_a_films_surround_sound_is_read_by_its_dialogue_channel(shared, tmp_path):
    """A film's or a broadcast's 5.1 mixes dialogue into its centre channel and music, effects and
    ambience into the others. Their mean buries the speech (and before, 5.1's mean counted as
    channels that cancel, so the loudest alone was taken: here the score). The centre channel of a
    surround layout is taken alone; six tracks without a layout (a field recorder's) are mixed as
    any channels are, by the mean of those that carry sound."""
    speech = shared / "data/ravdess/Audio_Speech_48k/Actor_05/03-01-01-01-02-01-05.wav"
    graph = ";".join([
        "sine=f=196:r=48000,volume=0.1[s1]", "sine=f=247:r=48000,volume=0.1[s2]",
        "[s1][s2]amix=2,asplit=2[l][r]",
        "anoisesrc=r=48000:a=0.01:c=pink[sl]", "anoisesrc=r=48000:a=0.01:c=pink:seed=7[sr]",
        "sine=f=40:r=48000,volume=0.05[lfe]", "[0]aformat=channel_layouts=mono[c]",
        "[l][r][c][lfe][sl][sr]join=inputs=6:channel_layout=5.1(side):map=0.0-FL|1.0-FR|2.0-FC|3.0-LFE|4.0-SL|5.0-SR",
    ])  # fmt: skip
    film = tmp_path / "film.wav"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", speech, "-filter_complex", graph, "-t", "3", film], check=True
    )
    alone = load_audio(speech)[:48000]
    for path, codec in ((film, None), (tmp_path / "film.m4a", "aac"), (tmp_path / "film.mkv", "ac3")):
        if codec:  # as films and broadcasts carry it: AAC in MP4, AC-3 in Matroska or MPEG-TS
            subprocess.run([ffmpeg_exe(), "-v", "error", "-i", film, "-c:a", codec, path], check=True)
        got = load_audio(path)[:48000]
        lag = int(np.argmax(np.correlate(got[:8000], alone[:7000], "valid")))  # AC-3 decodes 256 samples late
        assert np.corrcoef(got[lag : lag + 40000], alone[:40000])[0, 1] > 0.99, path.name
    tracks = tmp_path / "tracks.wav"  # the same six without a layout
    data, rate = sf.read(film, dtype="float32")
    sf.write(tracks, data, rate, subtype="FLOAT")
    assert dialogue_channel(tracks, 6) is None and dialogue_channel(film, 6) == 2
    for form in (b"RF64", b"BW64"):  # a DAW's stems, or past 4 GB: the RIFF's 64-bit forms
        wide = tmp_path / f"film-{form.decode()}.wav"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-i", film, "-rf64", "always", wide], check=True)
        wide.write_bytes(form + wide.read_bytes()[4:])
        assert dialogue_channel(wide, 6) == 2 and not unfinished_wav(wide)
        got, want = load_audio(wide), load_audio(film)  # BW64: decoded by ffmpeg (libsndfile lacks it)
        assert len(got) == len(want) and np.corrcoef(got, want)[0, 1] > 0.999
    power = np.square(data).mean(0)
    mean = data[:, power >= 0.01 * power.max()].mean(1)  # the channels within 20 dB of the loudest
    np.testing.assert_allclose(load_audio(tracks, rate), mean, atol=1e-6)


def test_long_speech_is_read_under_bars_that_go_with_the_reading(tmp_path, monkeypatch):
    """`animate`'s passes over long speech had bars, its reading none: an hour of wav took 8 s to
    read, what ffmpeg decodes 6 s more, with nothing shown. From two minutes on, `shown` reads
    under bars (25 fps frames, as the other bars count) advanced as the blocks are read and as
    ffmpeg reports its decoding; the samples are those read without."""
    from rich.progress import Progress

    from talkface_cli.audio import io

    class Recorded(Progress):
        def __init__(self) -> None:
            super().__init__(disable=True)
            self.steps: list[float] = []

        def advance(self, task, advance=1) -> None:  # noqa: ANN001 - rich's signature
            self.steps.append(advance)
            super().advance(task, advance)

    bars: list[Recorded] = []
    monkeypatch.setattr(io, "progress", lambda: bars.append(Recorded()) or bars[-1])
    speech = (0.1 * np.random.default_rng(0).standard_normal(121 * 16000)).astype(np.float32)
    sf.write(tmp_path / "long.wav", speech, 16000)
    sf.write(tmp_path / "short.wav", speech[: 119 * 16000], 16000)
    m4a = [ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "long.wav"), str(tmp_path / "long.m4a")]
    subprocess.run(m4a, check=True)
    for name, want in (
        ("long.wav", [("read long.wav", 2 * 3025)]),
        ("long.m4a", [("decode long.m4a", 3025), ("read long.m4a", 2 * 3025)]),
        ("short.wav", []),
    ):
        bars.clear()
        got = load_audio(tmp_path / name, shown=True)
        assert [(t.description, t.total) for b in bars for t in b.tasks] == want
        for bar in bars:  # a step a block read (ffmpeg reports every 0.5 s: once for this one)
            assert len(bar.steps) >= (2 * 8 if "read" in bar.tasks[0].description else 1)
            assert abs(sum(bar.steps) / bar.tasks[0].total - 1) < 0.01  # the whole (a decode: near it)
            assert bar.tasks[0].finished
        bars.clear()
        np.testing.assert_array_equal(got, load_audio(tmp_path / name))
        assert bars == []  # not shown
