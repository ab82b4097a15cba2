"""`talkface prep`: real RAVDESS video and audio, the synthetic corpus, bad inputs, resume."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from data_recipes.base import PrepOptions, run_recipe
from data_recipes.folder import Folder
from data_recipes.ravdess import Ravdess, parse_name
from data_recipes.synthetic import Synthetic, viseme_of
from data_recipes.video import sound_frames
from talkface_cli.app import app
from talkface_cli.audio.io import audio_delay, ffmpeg_exe, interlaced, load_audio
from talkface_cli.data.datasets import fingerprint, load_clips
from talkface_cli.data.provenance import TRAINED, provenance, seen_in_training
from talkface_cli.data.store import HOP, assign_splits, load_clip, read_manifest, validate
from talkface_cli.errors import TalkfaceError
from talkface_cli.face.ict import ICTFace
from talkface_cli.track.fit import jaw_opening, loudness_db
from talkface_cli.track.mediapipe import FaceMeshTracker
from talkface_cli.track.video import frames_at_25fps, open_video, track_video
from tests.videos import ffmpeg

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ravdess_video(tmp_path_factory, shared) -> Path:
    out = tmp_path_factory.mktemp("rv") / "store"
    s = run_recipe(Ravdess(), shared / "data/ravdess/Video_Speech", out, PrepOptions(jobs=2))
    assert s.failed == 0 and s.clips == 4 and not s.problems, (s.errors, s.problems)
    return out


def test_real_ravdess_video_is_tracked_and_fitted(ravdess_video, shared):
    model = ICTFace()
    for r in read_manifest(ravdess_video):
        cap, fps, n = open_video(Path(r["source"]))
        cap.release()
        assert r["frames"] == round(n / fps * 25), r["id"]
        clip = load_clip(ravdess_video, r["id"])
        assert clip["params"].shape == (r["frames"], 53) and clip["pose"].shape == (r["frames"], 6)
        assert len(clip["audio"]) == r["frames"] * HOP
        assert r["fit_nme"] < 0.05, (r["id"], r["fit_nme"])  # mean landmark error < 5% of the IOD
        corr = np.corrcoef(jaw_opening(model, clip["params"]), loudness_db(clip["audio"], r["frames"]))[0, 1]
        print(f"{r['id']}: T={r['frames']} NME={r['fit_nme']:.3f} r(jaw, loudness)={corr:.2f}")
        assert corr >= 0.3, (r["id"], corr)
    speaker = json.loads((ravdess_video / "speakers" / "05.json").read_text())
    assert speaker["clips"] == 4 and len(speaker["shape"]) == 8  # one shape for the speaker


@pytest.mark.parametrize("start", [0.0, 1.2])
def test_variable_frame_rate_video_is_sampled_by_time(shared, tmp_path, start):
    """Phone and call recordings have variable frame rates: a frame is taken by its timestamp, so the
    face stays in step with the audio (by index / average rate, 1.5 s in it was 0.8 s late). A part
    of a video (HDTF's talking parts) starts at its time, across the change of rate."""
    ff, real = ffmpeg_exe(), shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"
    cfr, vfr = tmp_path / "cfr.mp4", tmp_path / "vfr.mp4"
    lossless = ["-an", "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p"]
    keep = "select='lt(n,45)+not(mod(n,3))'"  # full rate for 1.5 s, then every third frame
    subprocess.run(
        [ff, "-v", "error", "-i", str(real), "-vf", "scale=160:90", *lossless, str(cfr)], check=True
    )
    subprocess.run(
        [ff, "-v", "error", "-i", str(cfr), "-vf", keep, "-fps_mode", "vfr", *lossless, str(vfr)], check=True
    )
    cap = cv2.VideoCapture(str(cfr))
    source = [f for ok, f in iter(cap.read, (False, None))]  # every frame of the constant-rate video
    cap.release()
    kept = np.array([n for n in range(len(source)) if n < 45 or n % 3 == 0])
    cap, fps, n = open_video(vfr)
    assert n == len(kept) and fps < 25  # the header's average rate
    frames = list(frames_at_25fps(cap, vfr, fps, n, round((n / fps - start) * 25), start))
    cap.release()
    assert len(frames) == round((len(source) / 30000 * 1001 - start) * 25)
    for t, frame in enumerate(frames):
        nearest = kept[np.argmin(np.abs(kept * 1001 / 30000 - (start + t / 25)))]
        assert np.array_equal(frame, source[nearest]), t


@pytest.mark.parametrize(
    ("fmt", "codec", "keep"),
    [
        ("webm", "libvpx", "1"),  # as browsers record
        ("matroska", "libx264", "1"),  # frames stored out of order (B-frames)
        ("webm", "libvpx", "lt(n,45)+not(mod(n,3))"),  # a variable rate: every third frame after 1.5 s
    ],
)
def test_a_video_without_a_duration_is_tracked_whole(shared, tmp_path, fmt, codec, keep):
    """A browser's MediaRecorder and a recording written to a pipe (or cut short) leave a WebM or
    Matroska file without a duration. OpenCV reads its frame count as a huge negative number, and
    such a video was refused as none; its frames are counted over the time they span, and it
    tracks as the same video finished with a duration does."""
    ff, real = ffmpeg_exe(), shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"
    ext = "webm" if fmt == "webm" else "mkv"
    piped, whole = tmp_path / f"piped.{ext}", tmp_path / f"whole.{ext}"
    picture = ["-vf", f"scale=640:360,select='{keep}'", "-fps_mode", "vfr", "-an", "-c:v", codec]
    with piped.open("wb") as f:  # to a pipe: the muxer cannot go back to write the duration
        subprocess.run([ff, "-v", "error", "-i", str(real), *picture, "-f", fmt, "-"], stdout=f, check=True)
    subprocess.run([ff, "-v", "error", "-i", str(piped), "-c", "copy", str(whole)], check=True)
    assert cv2.VideoCapture(str(piped)).get(cv2.CAP_PROP_FRAME_COUNT) < 0  # what it was refused for
    (cap, fps, n), (cap2, fps2, n2) = open_video(piped), open_video(whole)
    cap.release(), cap2.release()
    assert n / fps == pytest.approx(n2 / fps2, abs=0.002)  # seconds
    assert n == (97 if keep == "1" else 45 + 18)
    a, b = track_video(piped), track_video(whole)
    assert len(a.found) == 81 and a.found.all()
    assert np.array_equal(a.landmarks, b.landmarks) and np.array_equal(a.still, b.still)


@pytest.mark.parametrize(
    "codec",
    [
        ["-s", "720x480", "-r", "30000/1001", "-c:v", "dvvideo", "-pix_fmt", "yuv411p"],  # NTSC DV
        ["-flags", "+ilme+ildct", "-c:v", "libx264", "-x264-params", "tff=1"],  # a camcorder's 1080i
    ],
)
def test_interlaced_video_is_tracked_as_its_picture(shared, tmp_path, codec):
    """OpenCV's bundled decoder cannot convert interlaced frames: a DV camcorder's, an AVCHD
    camcorder's or a broadcast's 1080i came out all black, or as the picture of the video decoded
    before. They are decoded by ffmpeg, fields woven by yadif, and track as the source does."""
    real = shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"
    video = tmp_path / "interlaced.avi"
    made = [ffmpeg_exe(), "-v", "error", "-i", str(real), "-t", "2", "-an", *codec, str(video)]
    subprocess.run(made, check=True)
    assert interlaced(video) and not interlaced(real)
    cap, fps, n = open_video(video)
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.std() > 20 and n == 60 and fps == pytest.approx(29.97, abs=0.01)
    a, b = track_video(real), track_video(video)
    assert len(b.found) == 50 and b.found.all()
    mouth = lambda t: t.landmarks[:50, 66, 1] - t.landmarks[:50, 62, 1]  # noqa: E731 - inner lips apart
    assert np.corrcoef(mouth(a), mouth(b))[0, 1] > 0.95  # DV: 0.97 (720x480, 4:1:1 colour)


@pytest.mark.parametrize(
    ("made", "size"),
    [
        (["-vf", "scale=480:360,setsar=4/3", "-c:v", "libx264"], (640, 360)),  # HDV's 1440x1080, smaller
        (
            ["-vf", "scale=720:576,setsar=64/45", "-c:v", "dvvideo", "-pix_fmt", "yuv420p"],
            (1024, 576),
        ),  # 16:9 DV
        (["-vf", "scale=960:360,setsar=2/3", "-c:v", "libx264"], (640, 360)),  # pixels taller than wide
    ],
)
@pytest.mark.parametrize("turned", [False, True])
def test_pixels_that_are_not_square_are_tracked_as_the_picture_shows(shared, tmp_path, made, size, turned):
    """DV, DVD, HDV and broadcast video store a 16:9 or 4:3 picture in pixels that are not square,
    which OpenCV returns as they are stored: the face came about 20% too narrow and was fitted with
    a mouth 5 mm narrower (10 mm max lip error on this clip). Frames are stretched to the picture's
    shape, the stored width, or the height where a rotation (a phone's) turns it."""
    real = shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"
    square = ffmpeg(real, tmp_path / "square.mp4", "-t", "1", "-r", "25", "-vf", "scale=640:360", "-an")
    video = ffmpeg(real, tmp_path / "stored.mov", "-t", "1", "-r", "25", "-an", *made)
    if turned:  # a rotation in the container's metadata, as phones write it
        video = ffmpeg(video, tmp_path / "turned.mov", "-c", "copy", before=("-display_rotation", "90"))
    a, b = track_video(square), track_video(video)
    assert b.size == (size[::-1] if turned else size) and b.found.all()
    ratio = (
        lambda t: np.median(  # noqa: E731 - eyes apart over nose to chin, as the face's shape
            np.linalg.norm(t.landmarks[:, 36:42, :2].mean(1) - t.landmarks[:, 42:48, :2].mean(1), axis=1)
            / np.linalg.norm(t.landmarks[:, 8, :2] - t.landmarks[:, 27, :2], axis=1)
        )
    )
    assert ratio(b) == pytest.approx(ratio(a), rel=0.03)  # stored pixels: about 20% off


def test_a_videos_sound_is_put_on_its_pictures_clock(shared, tmp_path):
    """A clip cut with `-ss` after `-i` and `-c copy` starts its picture at the next keyframe, after
    its sound; a delayed audio track starts after the picture. Prep lines them up as a player does."""
    ff, real = ffmpeg_exe(), shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"
    late, cut = tmp_path / "late" / "late.mp4", tmp_path / "cut" / "cut.mp4"
    late.parent.mkdir(), cut.parent.mkdir()
    for args in (
        ["-i", real, "-itsoffset", "0.4", "-i", real, "-map", "0:v", "-map", "1:a", "-c", "copy", late],
        ["-i", real, "-ss", "1.3", "-t", "1.5", "-c", "copy", cut],
    ):
        subprocess.run([ff, "-v", "error", *map(str, args)], check=True)
    assert audio_delay(late) == pytest.approx(0.4, abs=1e-3) and audio_delay(real) == 0
    # Where the cut's first frame and its sound start in the original (by matching frames and samples).
    cap = cv2.VideoCapture(str(real))
    frames = [f for ok, f in iter(cap.read, (False, None))]
    cap.release()
    cap = cv2.VideoCapture(str(cut))
    first = cap.read()[1]
    cap.release()
    picture = np.argmin([np.abs(f.astype(np.float32) - first).mean() for f in frames]) * 1001 / 30000
    whole, sound = load_audio(real), load_audio(cut)
    sound_at = np.argmax(np.correlate(whole, sound[:4000], "valid")) / 16000
    assert picture - sound_at > 0.2  # the picture starts well after the sound
    assert audio_delay(cut) == pytest.approx(sound_at - picture, abs=2e-3)
    s = run_recipe(Folder(), cut.parent, tmp_path / "store", PrepOptions())
    assert s.written == 1, s.errors
    audio = load_clip(tmp_path / "store", "cut")["audio"]
    start = round(picture * 16000)
    assert np.corrcoef(audio[:8000], whole[start : start + 8000])[0, 1] > 0.99  # the sound under the face


def test_a_video_whose_sound_ends_early_keeps_only_the_frames_it_reaches(shared, tmp_path):
    """Frames past the end of the sound would pair a talking face with silence."""
    real = shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"
    short = tmp_path / "in" / "short.mov"  # PCM sound: no encoder delay to blur the end
    short.parent.mkdir()
    args = ["-i", real, "-map", "0:v", "-map", "0:a", "-c:v", "copy", "-af", "atrim=0:1.5"]
    args += ["-c:a", "pcm_s16le"]
    subprocess.run([ffmpeg_exe(), "-v", "error", *map(str, args), str(short)], check=True)
    s = run_recipe(Folder(), short.parent, tmp_path / "store", PrepOptions())
    assert s.written == 1, s.errors
    clip = load_clip(tmp_path / "store", "short")
    assert len(clip["params"]) == 38 and len(clip["audio"]) == 38 * 640  # 1.5 s: 37.5 frames
    assert np.abs(clip["audio"][-640:]).max() > 0.01  # the last frame still has sound under it
    with pytest.raises(TalkfaceError, match="x.mp4: its sound does not reach past the first frame"):
        sound_frames(81, 500, "x.mp4")
    assert sound_frames(81, 81 * 640 - 300, "x.mp4") == 81 and sound_frames(81, 10**6, "x.mp4") == 81


def test_a_small_face_in_a_wide_shot_is_tracked(shared, ravdess_video, tmp_path):
    """A face 87 px wide in a 1080p frame is too small for the whole-frame detector (128 px input);
    a tile finds it, and its mouth moves as the full-size face's does."""
    ff, real = ffmpeg_exe(), shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"
    wide = tmp_path / "wide.mp4"
    small = "scale=320:180,pad=1920:1080:800:300:color=gray"  # the RAVDESS frame at 1/4 in a wide shot
    subprocess.run(
        [ff, "-v", "error", "-i", str(real), "-t", "2", "-vf", small, "-an", str(wide)], check=True
    )
    cap = cv2.VideoCapture(str(wide))
    first = np.ascontiguousarray(cap.read()[1][:, :, ::-1])
    cap.release()
    tracker = FaceMeshTracker()
    assert tracker._detect_in(first, 0, -420, 1920) is None  # the whole frame: missed
    track = track_video(wide, tracker)
    assert track.found.all()

    def mouth(lmk68: np.ndarray) -> np.ndarray:  # (T,) inner-lip gap / inter-ocular distance
        return np.linalg.norm(lmk68[:, 62] - lmk68[:, 66], axis=1) / np.linalg.norm(
            lmk68[:, 36] - lmk68[:, 45], axis=1
        )

    full = np.load(ravdess_video / "tracks" / "01-01-03-01-01-02-05.npz")["lmk68"][: len(track.found), :, :2]
    assert np.corrcoef(mouth(track.landmarks[..., :2]), mouth(full))[0, 1] > 0.95


def test_loading_the_trackers_keeps_stderr_clean(capfd):
    from talkface_cli.track.runtime import DETECTOR, LANDMARKER, interpreter

    capfd.readouterr()
    interpreter(DETECTOR), interpreter(LANDMARKER, threads=2)
    assert capfd.readouterr().err == ""  # LiteRT's XNNPACK banner is held back


def test_tracking_and_fitting_the_faces_show_progress_bars(shared, tmp_path):
    """The faces are fitted per speaker after the tracking bar ends, which went by without a word;
    and a long video is one clip, whose bar stood at 0/1 while its frames were tracked: they have a
    bar of their own, from one process or from the pool's workers."""
    import os

    (tmp_path / "in").mkdir()
    for name in ("a", "b"):
        (tmp_path / "in" / f"{name}.mp4").symlink_to(
            shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"
        )
    env = {k: v for k, v in os.environ.items() if k != "TALKFACE_NO_PROGRESS"}
    for jobs in (1, 2):
        args = ["prep", "folder", tmp_path / "in", "--out", tmp_path / f"store{jobs}", "--jobs", jobs]
        done = subprocess.run(
            [sys.executable, "-m", "talkface_cli", *map(str, args)], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert re.search(r"prep folder .*2/2 +100%", done.stderr) and re.search(
            r"fit faces .*2/2 +100%", done.stderr
        )
        assert re.search(r"track videos .*162/162 +100% .* frame/s", done.stderr), (jobs, done.stderr)


def test_ravdess_audio_720_clips_exact_labels_and_lengths(shared, tmp_path):
    root = shared / "data/ravdess/Audio_Speech_16k"
    s = run_recipe(
        Ravdess(), root, tmp_path / "a", PrepOptions(jobs=2, test_speakers=["09", "10", "11", "12"])
    )
    assert (s.clips, s.failed, s.problems) == (720, 0, [])
    records = read_manifest(tmp_path / "a")
    for r in records:
        src = Path(r["source"])
        labels = parse_name(src)
        assert (r["speaker"], r["emotion"], r["intensity"], r["statement"]) == (
            labels["speaker"],
            labels["emotion"],
            labels["intensity"],
            labels["statement"],
        )
        info = sf.info(str(src))
        assert abs(r["duration"] - info.frames / info.samplerate) < 1e-3
        assert r["frames"] == round(info.frames / HOP) and r["face_model"] is None
        assert r["split"] == ("test" if r["speaker"] in ("09", "10", "11", "12") else "train")
    one = next(r for r in records if r["id"] == "03-01-05-02-01-01-12")
    assert (one["emotion"], one["intensity"], one["speaker"]) == ("angry", 2, "12")
    assert one["statement"] == "Kids are talking by the door"
    assert sum(r["split"] == "test" for r in records) == 240


def test_a_clip_found_twice_is_written_once_and_reported(shared, tmp_path):
    """ROOT may hold the same clip twice (the 48 kHz wav and a 16 kHz flac copy): the first in path
    order is kept, the second reported, not silently written over it. A byte-for-byte copy (Kaggle's
    RAVDESS holds every file under Actor_NN/ and audio_speech_actors_01-24/Actor_NN/, unzipped or
    not) is passed over in a note, not an error."""
    rv = shared / "data/ravdess"
    for sub, rel in [
        ("a", "Audio_Speech_16k/Actor_05/03-01-03-01-01-02-05.flac"),
        ("a", "Audio_Speech_16k/Actor_05/03-01-01-01-02-01-05.flac"),
        ("b", "Audio_Speech_48k/Actor_05/03-01-03-01-01-02-05.wav"),
        ("c", "Audio_Speech_16k/Actor_05/03-01-01-01-02-01-05.flac"),  # a copy
    ]:
        (tmp_path / "in" / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(rv / rel, tmp_path / "in" / sub / Path(rel).name)
    s = run_recipe(Ravdess(), tmp_path / "in", tmp_path / "out", PrepOptions())
    assert (s.discovered, s.written, s.failed, s.clips) == (4, 2, 1, 2)
    (err,) = s.errors
    assert (
        err["source"].endswith("b/03-01-03-01-01-02-05.wav") and "a/03-01-03-01-01-02-05.flac" in err["error"]
    )
    copy = tmp_path / "in/c/03-01-01-01-02-01-05.flac"
    assert s.notes == [f"1 file(s) passed over, byte for byte copies of a clip's file ({copy}, ...)"]
    kept = next(r for r in read_manifest(tmp_path / "out") if r["id"] == "03-01-03-01-01-02-05")
    assert kept["source"].endswith("a/03-01-03-01-01-02-05.flac")
    kaggle = tmp_path / "ravdess-emotional-speech-audio.zip"  # the copies inside one zip
    with zipfile.ZipFile(kaggle, "w") as z:
        for folder in ("Actor_05", "audio_speech_actors_01-24/Actor_05"):
            z.write(
                rv / "Audio_Speech_48k/Actor_05/03-01-03-01-01-02-05.wav",
                f"{folder}/03-01-03-01-01-02-05.wav",
            )
    (tmp_path / "k").mkdir()
    kaggle.rename(tmp_path / "k" / kaggle.name)
    s = run_recipe(Ravdess(), tmp_path / "k", tmp_path / "out-k", PrepOptions())
    assert (s.discovered, s.written, s.failed, s.clips, len(s.notes)) == (2, 1, 0, 1, 1)


def test_a_performance_filmed_and_recorded_stays_in_one_split(shared, tmp_path):
    """RAVDESS keeps each performance as an audio-video 01-*.mp4 and an audio-only 03-*.wav: one
    recording. Split by clip, the two must not land apart, or a test clip's sound is trained on.
    A store without such twins keeps the split it had."""
    rv = shared / "data/ravdess"
    (tmp_path / "in").mkdir()
    for p in [
        *(rv / "Video_Speech/Actor_05").glob("*.mp4"),
        *(rv / "Audio_Speech_16k/Actor_05").glob("*.flac"),
    ]:
        (tmp_path / "in" / p.name).symlink_to(p)
    s = run_recipe(Ravdess(), tmp_path / "in", tmp_path / "out", PrepOptions(jobs=2))
    assert (s.clips, s.failed) == (64, 0)
    splits: dict[str, set] = {}
    for r in read_manifest(tmp_path / "out"):
        splits.setdefault(r["id"][3:], set()).add(r["split"])
    assert len(splits) == 60 and all(len(v) == 1 for v in splits.values()), splits
    audio = [r for r in read_manifest(tmp_path / "out") if r["id"].startswith("03-")]
    assert all(r["take"] == r["id"][3:] for r in audio)
    plain = [{k: v for k, v in r.items() if k != "take"} for r in audio]
    assign_splits(audio, 0)
    assign_splits(plain, 0)
    assert [r["split"] for r in audio] == [r["split"] for r in plain]
    # A model that trained on the videos has heard their audio-only twins (other samples: AAC vs
    # PCM), whichever store they are in; the other recordings it has not.
    clips = load_clips([tmp_path / "out"])
    videos = [c for c in clips if c.id.startswith("01-")]
    (tmp_path / "model").mkdir()
    meta, files = provenance([tmp_path / "out"], videos)
    assert meta["data_terms"] == ["RAVDESS: CC BY-NC-SA 4.0 (non-commercial, share alike)"]  # models show
    (tmp_path / "model" / TRAINED).write_bytes(files[TRAINED])
    twins = sorted("03-" + c.id[3:] for c in videos)
    assert sorted(seen_in_training(tmp_path / "model", [c for c in clips if c.id.startswith("03-")])) == twins
    assert all(fingerprint(c.audio) != fingerprint(t.audio) for c in videos for t in clips if t.id in twins)


def test_sung_clips_are_taken_only_when_asked_for(shared, tmp_path):
    """RAVDESS's song set (vocal channel 02) unpacked beside the speech: the paper trains on the
    speech clips, so songs are passed over with a note, and taken with --song."""
    speech = shared / "data/ravdess/Audio_Speech_16k/Actor_05"
    (tmp_path / "in").mkdir()
    for name in ("03-01-03-01-01-02-05.flac", "03-01-01-01-02-01-05.flac"):
        (tmp_path / "in" / name).symlink_to(speech / name)
    (tmp_path / "songs").mkdir()  # a song's name (the sound does not matter here)
    (tmp_path / "songs" / "03-02-03-01-01-02-05.flac").symlink_to(speech / "03-01-03-01-01-02-05.flac")
    (tmp_path / "in" / "03-02-03-01-01-02-05.flac").symlink_to(
        tmp_path / "songs" / "03-02-03-01-01-02-05.flac"
    )
    prep = lambda root, out, *a: runner.invoke(  # noqa: E731
        app, ["prep", "ravdess", str(root), "--out", str(out), *a], env={"COLUMNS": "250"}
    )
    res = prep(tmp_path / "in", tmp_path / "speech")
    assert res.exit_code == 0, res.output
    assert f"note: {tmp_path / 'in'}: 1 sung clip(s) passed over (--song takes them)" in res.output
    assert [r["id"] for r in read_manifest(tmp_path / "speech")] == [
        "03-01-01-01-02-01-05",
        "03-01-03-01-01-02-05",
    ]
    res = prep(tmp_path / "in", tmp_path / "all", "--song")
    assert res.exit_code == 0 and "note:" not in res.output, res.output
    song = [r for r in read_manifest(tmp_path / "all") if r["id"].startswith("03-02")]
    assert [(r["vocal"], r["emotion"]) for r in song] == [("song", "happy")]
    res = prep(tmp_path / "songs", tmp_path / "none")
    assert res.exit_code == 1 and str(res.exception) == (
        f"{tmp_path / 'songs'}: only sung RAVDESS clips (1); --song takes them"
    )
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize(
    "more, said",
    [
        (["--sentences", "0"], "--sentences 0: use 1..16"),  # was an empty store, exit 0
        (["--sentences", "17"], "--sentences 17: use 1..16"),  # the bank's 16: two clips of one id
        (["--repetitions", "0"], "--repetitions 0: use 1 or more"),
        (["--speakers", "65"], "--speakers 65: use 1..64"),
    ],
)
def test_a_synthetic_corpus_of_no_clips_or_of_twice_named_ones_is_refused(tmp_path, more, said):
    res = runner.invoke(app, ["prep", "synthetic", "--out", str(tmp_path / "s"), *more])
    assert isinstance(res.exception, TalkfaceError) and str(res.exception) == said
    assert not (tmp_path / "s").exists()


def test_synthetic_is_deterministic_and_lips_follow_phonemes(tmp_path):
    opts = lambda jobs: PrepOptions(jobs=jobs, split_by="speaker", extra={"speakers": 3, "sentences": 1})  # noqa: E731
    a = run_recipe(Synthetic(), None, tmp_path / "a", opts(2))
    b = run_recipe(Synthetic(), None, tmp_path / "b", opts(1))
    assert a.clips == b.clips == 3 * 15 and not a.problems
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for f in files:
        if f.name != "prep.json":  # holds a time stamp and the --jobs used
            assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    model = ICTFace()
    bilabial, vowel, pause = [], [], []
    for r in read_manifest(tmp_path / "a"):
        clip = load_clip(tmp_path / "a", r["id"])
        lmk = model.landmarks_of(torch.as_tensor(clip["params"])).numpy()
        gap = np.linalg.norm(lmk[:, 62] - lmk[:, 66], axis=1) * 1000  # inner-lip gap, mm
        ph = json.loads(str(clip["phonemes"]))
        onset, offset = ph[1][1], ph[-1][1]  # speech sits between silences, as in a recording
        assert 0.1 <= onset <= 0.65 and 0.08 <= r["frames"] / 25 - offset <= 0.62, r["id"]
        quiet = np.concatenate([clip["audio"][: int(onset * 16000)], clip["audio"][int(offset * 16000) :]])
        assert 0 < np.sqrt(np.mean(quiet**2)) < 0.01 < np.sqrt(np.mean(clip["audio"] ** 2))  # a noise floor
        if r["emotion"] == "neutral":  # mouth at rest before and after (75 ms of coarticulation aside)
            pause += [*gap[: int(onset * 25) - 2], *gap[int(offset * 25) + 3 :]]
        ends = [t for _, t in ph[1:]] + [r["frames"] / 25]
        for (p, start), end in zip(ph, ends):
            frame = min(int((start + end) / 2 * 25), r["frames"] - 1)
            if viseme_of(p) == "bilabial" and end - start >= 0.05:
                bilabial.append(gap[frame])
            elif viseme_of(p) == "open" and end - start >= 0.08:
                vowel.append(gap[frame])
    assert len(bilabial) > 20 and len(vowel) > 20
    assert np.median(bilabial) < 2.0 and np.percentile(bilabial, 90) < 4.0  # lips shut on /p b m/
    assert np.median(vowel) > 8.0  # and open on open vowels
    assert len(pause) > 10 and max(pause) < 1.0  # and shut in the silences around the speech


def _bad_inputs(folder: Path, shared: Path) -> None:
    ff = ffmpeg_exe()
    real = shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"
    folder.mkdir()
    (folder / "01-01-03-01-01-02-05.mp4").symlink_to(real)  # good
    subprocess.run(
        [
            ff,
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=300:sample_rate=48000",
            "-t",
            "1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            str(folder / "01-01-04-01-01-01-05.mp4"),
        ],
        check=True,
    )  # no face
    subprocess.run(
        [ff, "-v", "error", "-i", str(real), "-an", "-c:v", "copy", str(folder / "01-01-05-01-01-01-05.mp4")],
        check=True,
    )  # no audio track
    data = real.read_bytes()
    (folder / "01-01-06-01-01-01-05.mp4").write_bytes(data[: len(data) // 2])  # truncated
    muted = [
        "-i",
        real,
        "-af",
        "volume=0",
        "-c:v",
        "copy",
        "-c:a",
        "aac",
        folder / "01-01-07-01-01-01-05.mp4",
    ]
    subprocess.run([ff, "-v", "error", *map(str, muted)], check=True)  # a face talking over silence
    sf.write(folder / "03-01-02-01-01-01-05.wav", np.zeros(16000, np.float32), 16000)  # silent
    sf.write(
        folder / "03-01-0X-01-01-01-05.wav", np.random.default_rng(0).normal(0, 0.1, 16000), 16000
    )  # bad name
    t = np.arange(8000 * 2) / 8000
    stereo = np.stack([np.sin(2 * np.pi * 200 * t), np.sin(2 * np.pi * 300 * t)], 1) * 0.3
    sf.write(folder / "03-01-03-01-01-01-07.wav", stereo.astype(np.float32), 8000)  # 8 kHz stereo: fine


def test_bad_inputs_are_one_line_errors_and_the_run_continues(shared, tmp_path):
    _bad_inputs(tmp_path / "in", shared)
    res = runner.invoke(
        app,
        [
            "prep",
            "ravdess",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "out"),
            "--jobs",
            "1",
            "--json",
            str(tmp_path / "s.json"),
        ],
    )
    assert res.exit_code == 3, res.output  # finished, with per-clip errors
    errors = {
        Path(e["source"]).name: e["error"] for e in json.loads((tmp_path / "out" / "errors.json").read_text())
    }
    expected = {
        "01-01-04-01-01-01-05.mp4": "no face",
        "01-01-05-01-01-01-05.mp4": "no audio",
        "01-01-06-01-01-01-05.mp4": "truncated",
        "01-01-07-01-01-01-05.mp4": "silent",
        "03-01-02-01-01-01-05.wav": "silent",
        "03-01-0X-01-01-01-05.wav": "not a RAVDESS name",
    }
    assert set(errors) == set(expected)
    for name, words in expected.items():
        assert words in errors[name] and name in errors[name] and "\n" not in errors[name], errors[name]
    ids = {r["id"] for r in read_manifest(tmp_path / "out")}
    assert ids == {"01-01-03-01-01-02-05", "03-01-03-01-01-01-07"}
    low = load_clip(tmp_path / "out", "03-01-03-01-01-01-07")["audio"]
    assert len(low) == 32000  # 2 s resampled to 16 kHz mono
    assert validate(tmp_path / "out") == []


def test_a_packed_corpus_is_named_and_no_store_is_left(tmp_path):
    """Corpora come packed (RAVDESS zips, MEAD's video.tar per speaker): ROOT with only archives
    is one line naming those the recipe does not read (`prep ravdess` reads zips, `prep mead`
    MEAD's tars and names one without its videos), and the --out folder is not created."""
    dl = tmp_path / "downloads"
    (dl / "M003").mkdir(parents=True)
    (dl / "Video_Speech_Actor_01.zip").write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
    (dl / "M003" / "video.tar").write_bytes(bytes(1024))
    expected = {
        "ravdess": ("no RAVDESS files", "unpack its archives first (M003/video.tar)"),
        "mead": ("video.tar: no MEAD videos", "(video/<view>/<emotion>/level_<k>/NNN.mp4)"),
        "hdtf": ("no videos", "unpack its archives first (M003/video.tar, Video_Speech_Actor_01.zip)"),
    }
    for recipe, (what, ends) in expected.items():
        res = subprocess.run(
            [sys.executable, "-m", "talkface_cli", "prep", recipe, str(dl), "--out", str(tmp_path / "o")],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        err = res.stderr.strip()
        assert res.returncode == 1 and len(err.splitlines()) == 1 and what in err, err
        assert err.endswith(ends), err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("sig, jobs", [("SIGKILL", 1), ("SIGTERM", 2)])
def test_killed_prep_resumes_without_redoing_clips(shared, tmp_path, sig, jobs):
    out = tmp_path / "store"
    cmd = [
        sys.executable,
        "-m",
        "talkface_cli",
        "prep",
        "ravdess",
        str(shared / "data/ravdess/Audio_Speech_16k"),
        "--out",
        str(out),
        "--jobs",
        str(jobs),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "clips").glob("*.json"))) < 150:
        time.sleep(0.05)
    proc.send_signal(getattr(signal, sig))
    err = proc.communicate()[1]
    if sig == "SIGTERM":  # the worker processes' queued clips are dropped, not waited for
        assert proc.returncode == 143 and err.strip().splitlines()[-1] == "error: terminated"
    before = {p.name: p.stat().st_mtime_ns for p in (out / "clips").glob("*.npz")}
    assert 150 <= len(before) < 720 and not (out / "manifest.jsonl").exists()
    begun = json.loads((out / "prep.json").read_text())  # stamped before the first clip
    assert begun["finished"] is None and begun["recipe"] == "ravdess" and begun["options"]["jobs"] == jobs
    res = runner.invoke(
        app,
        [
            "prep",
            "ravdess",
            str(shared / "data/ravdess/Audio_Speech_16k"),
            "--out",
            str(out),
            "--jobs",
            str(jobs),
            "--json",
            str(tmp_path / "s.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["clips"] == 720 and summary["written"] == 720 - summary["skipped"]
    assert summary["skipped"] >= len(before) - 1  # a clip torn by the kill is redone, nothing else
    after = {p.name: p.stat().st_mtime_ns for p in (out / "clips").glob("*.npz")}
    assert sum(after[k] == v for k, v in before.items()) >= len(before) - 1


STOPPED_INSIDE_WAIT = """
import signal, sys
from pathlib import Path
import data_recipes.base as base
from data_recipes.base import PrepOptions, run_recipe
from data_recipes.ravdess import Ravdess
from talkface_cli.errors import Terminated

def terminate(signum, frame):
    raise Terminated

def stopped_inside(fs, **kw):  # SIGTERM while `wait` holds the futures' locks, taken one by one
    for f in fs:
        f._condition.acquire()
    signal.raise_signal(signal.SIGTERM)
    for f in fs:
        f._condition.release()
    return real(fs, **kw)

signal.signal(signal.SIGTERM, terminate)
real, base.wait = base.wait, stopped_inside
try:
    run_recipe(Ravdess(), Path(sys.argv[1]), Path(sys.argv[2]), PrepOptions(jobs=2))
except Terminated:
    sys.exit(143)
"""


def test_a_stop_inside_the_pools_wait_ends_prep_and_does_not_hang_it(shared, tmp_path):
    """A SIGTERM that arrived while `concurrent.futures.wait` held some futures' locks left them
    held, and the pool's shutdown waited on them for good (a `make test` hung on the SIGTERM
    case above). Stops now act between the calls: prep ends with 143, and resumes."""
    root = tmp_path / "RAVDESS"
    root.mkdir()
    for f in sorted(shared.glob("data/ravdess/Audio_Speech_16k/Actor_01/*.flac"))[:3]:
        (root / f.name).write_bytes(f.read_bytes())
    cmd = [sys.executable, "-c", STOPPED_INSIDE_WAIT, str(root), str(tmp_path / "store")]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True)
    try:
        err = proc.communicate(timeout=120)[1]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its pool's workers too
        proc.communicate()
        pytest.fail("prep hung after a SIGTERM inside the pool's wait")
    assert proc.returncode == 143, err
    assert run_recipe(Ravdess(), root, tmp_path / "store", PrepOptions(jobs=1)).clips == 3


def test_a_store_resumes_only_under_the_options_that_made_it(tmp_path):
    out = tmp_path / "synth"
    prep = lambda *more: runner.invoke(  # noqa: E731
        app, ["prep", "synthetic", "--out", str(out), "--speakers", "1", "--sentences", "1", *more]
    )
    assert prep().exit_code == 0
    again = prep("--split-by", "speaker")  # a new split of the same clips is fine
    assert again.exit_code == 0 and "15 " in again.output
    other_seed = prep("--seed", "1")  # other data: refused (a one-line TalkfaceError), not mixed in
    assert isinstance(other_seed.exception, TalkfaceError)
    assert str(other_seed.exception).endswith(
        "synth: made with --seed 0, not 1; use the same to resume or grow it, or another --out"
    )
    other_recipe = runner.invoke(app, ["prep", "ravdess", str(tmp_path), "--out", str(out)])
    assert "synth: a store made by `prep synthetic`" in str(other_recipe.exception)
    made = json.loads((out / "prep.json").read_text())
    assert made["recipe_version"] == 2 and made["finished"] and made["clips"] == 15
    (out / "prep.json").write_text(json.dumps(made | {"recipe_version": 1}))  # an older talkface's store
    old = prep()
    assert "synth: made by version 1 of the synthetic recipe" in str(old.exception)
    assert len(read_manifest(out)) == 15


def test_a_store_another_talkface_is_filling_is_refused_and_left_as_it_is(tmp_path):
    """While one prep (or `prep validate --fix`) fills a store, a second one started on it is a
    one-line error naming the first: it cleared the first's copies of archive members under way.
    The lock goes with its holder: after it, the store is prepared as ever, with no lock left."""
    from talkface_cli.lock import LOCK, working_in

    out = tmp_path / "synth"
    prep = lambda: runner.invoke(  # noqa: E731
        app, ["prep", "synthetic", "--out", str(out), "--speakers", "1", "--sentences", "1"]
    )
    out.mkdir()
    with working_in(out, "prep synthetic"):
        busy = prep()
        assert busy.exit_code == 1 and str(busy.exception).startswith(
            f"{out}: in use by prep synthetic, process {os.getpid()} on "
        )
        assert str(busy.exception).endswith("; wait for it to end (or stop it), then run this again")
        assert [p.name for p in out.iterdir()] == [LOCK]
        fix = runner.invoke(app, ["prep", "validate", str(out), "--sync", "sync/x", "--fix"])
        assert fix.exit_code == 1 and "in use by prep synthetic" in str(fix.exception)
    assert prep().exit_code == 0
    assert len(read_manifest(out)) == 15 and not (out / LOCK).exists()


def test_an_unnamed_store_is_data_recipe_and_no_store_goes_among_a_users_files(shared, tmp_path, monkeypatch):
    root = tmp_path / "RAVDESS"
    root.mkdir()
    for f in sorted(shared.glob("data/ravdess/Audio_Speech_16k/Actor_01/*.flac"))[:3]:
        (root / f.name).write_bytes(f.read_bytes())
    monkeypatch.chdir(tmp_path)
    into_root = runner.invoke(app, ["prep", "ravdess", "RAVDESS", "--out", "RAVDESS"])
    assert str(into_root.exception) == (
        "RAVDESS: a folder holding other files (03-01-01-01-01-01-01.flac), not a clip store; "
        "give --out a new or empty folder"
    )
    assert sorted(p.name for p in root.iterdir()) == sorted(p.name for p in root.glob("*.flac"))
    assert runner.invoke(app, ["prep", "ravdess", "RAVDESS"]).exit_code == 0  # the typical use, as typed
    assert len(read_manifest(tmp_path / "data" / "ravdess")) == 3
    again = runner.invoke(app, ["prep", "ravdess", "RAVDESS", "--json", "-"])  # resumes; JSON alone on stdout
    assert again.exit_code == 0 and json.loads(again.stdout)["skipped"] == 3
    assert json.loads(again.stdout)["relabelled"] == 0


def test_import_emoca_and_etf(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "emoca").mkdir()
    np.savez(
        tmp_path / "emoca" / "clip_a.npz",
        exp=rng.normal(size=(50, 100)).astype(np.float32),
        pose=rng.normal(0, 0.1, (50, 6)).astype(np.float32),
        shape=rng.normal(size=(50, 100)),
    )
    sf.write(tmp_path / "emoca" / "clip_a.wav", rng.normal(0, 0.1, 32000).astype(np.float32), 16000)
    res = runner.invoke(app, ["prep", "import", str(tmp_path / "emoca"), "--out", str(tmp_path / "s1")])
    assert res.exit_code == 0, res.output
    clip = load_clip(tmp_path / "s1", "clip_a")
    assert (
        clip["params"].shape == (50, 53)
        and str(clip["face_model"]) == "flame"
        and len(clip["audio"]) == 32000
    )
    terms = provenance([tmp_path / "s1"], load_clips([tmp_path / "s1"]))[0]["data_terms"]
    assert terms == [
        "import: the data's own terms (your files)",
        "FLAME (the clips' face model): MPI's non-commercial licence",
    ]
    for sub in ("blendshape", "audio"):  # as 3D-ETF loaders keep it: audio/ beside blendshape/
        (tmp_path / "etf" / sub).mkdir(parents=True)
    name = "03-01-05-02-01-01-12"
    np.save(tmp_path / f"etf/blendshape/{name}.npy", rng.random((60, 52)).astype(np.float32))  # 2 s, 30 fps
    sf.write(tmp_path / f"etf/audio/{name}.wav", rng.normal(0, 0.1, 32000).astype(np.float32), 16000)
    res = runner.invoke(
        app, ["prep", "import", str(tmp_path / "etf"), "--format", "etf", "--out", str(tmp_path / "s2")]
    )
    assert res.exit_code == 0, res.output
    r = read_manifest(tmp_path / "s2")[0]
    assert (r["frames"], r["emotion"], r["speaker"], r["face_model"]) == (50, "angry", "12", "ict")
    curves = rng.random((60, 52)).astype(np.float32)
    curves[10, 3] = np.nan  # a capture's lost frame: the clip is refused, not stored to break training
    np.save(tmp_path / "etf/blendshape/nan.npy", curves)
    sf.write(tmp_path / "etf/audio/nan.wav", rng.normal(0, 0.1, 32000).astype(np.float32), 16000)
    res = runner.invoke(
        app, ["prep", "import", str(tmp_path / "etf"), "--format", "etf", "--out", str(tmp_path / "s2")]
    )
    assert res.exit_code == 3 and len(read_manifest(tmp_path / "s2")) == 1
    errors = json.loads((tmp_path / "s2/errors.json").read_text())
    assert [e["error"] for e in errors] == [
        f"{tmp_path / 'etf/blendshape/nan.npy'}: its params holds NaN or infinite values"
    ]


def test_folder_with_labels_and_mead_hdtf_layouts(shared, tmp_path):
    real = shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"
    wav = shared / "data/ravdess/Audio_Speech_16k/Actor_01/03-01-01-01-01-01-01.flac"
    (tmp_path / "f/a").mkdir(parents=True)
    (tmp_path / "f/a/talk.mp4").symlink_to(real)
    (tmp_path / "f/a/say.flac").symlink_to(wav)
    memo = tmp_path / "f/a/memo.mp4"  # a voice recorder's .mp4: sound only
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(wav), "-c:a", "aac", str(memo)], check=True)
    (tmp_path / "labels.csv").write_text(
        "path,speaker,emotion,intensity\na/talk.mp4,anna, Happiness,1\na/say.flac,bob,,\na/memo.mp4,cy,,\n"
    )
    prep = ["prep", "folder", str(tmp_path / "f"), "--labels", str(tmp_path / "labels.csv")]
    prep += ["--out", str(tmp_path / "s")]
    res = runner.invoke(app, prep)
    assert res.exit_code == 0, res.output
    recs = {r["id"]: r for r in read_manifest(tmp_path / "s")}
    assert recs["a__talk"]["speaker"] == "anna" and recs["a__talk"]["emotion"] == "happy"
    assert recs["a__talk"]["face_model"] == "ict" and recs["a__say"]["face_model"] is None
    assert recs["a__memo"]["face_model"] is None and recs["a__memo"]["speaker"] == "cy"  # kept as audio
    (tmp_path / "labels.csv").write_text(  # corrected: the video is bob's, the flac is sad
        "path,speaker,emotion,intensity\na/talk.mp4,bob, Happiness,1\na/say.flac,bob,sad,\na/memo.mp4,cy,,\n"
    )
    res = runner.invoke(app, [*prep, "--json", "-"])
    summary = json.loads(res.stdout)
    assert (summary["relabelled"], summary["written"], summary["skipped"]) == (2, 1, 2)  # the video refitted
    recs = {r["id"]: r for r in read_manifest(tmp_path / "s")}
    assert (recs["a__talk"]["speaker"], recs["a__say"]["speaker"], recs["a__say"]["emotion"]) == (
        "bob",
        "bob",
        "sad",
    )
    assert json.loads((tmp_path / "s/speakers/bob.json").read_text())["clips"] == 1
    assert not (tmp_path / "s/speakers/anna.json").exists()  # fitted to bob's face
    assert json.loads(runner.invoke(app, [*prep, "--json", "-"]).stdout)["relabelled"] == 0
    res = runner.invoke(app, [*prep[:3], *prep[5:]])  # --labels forgotten: nothing changes
    assert isinstance(res.exception, TalkfaceError) and "give --labels again" in str(res.exception)
    assert {r["id"]: r for r in read_manifest(tmp_path / "s")} == recs
    mead = tmp_path / "mead/M003/video/front/fear/level_2"
    mead.mkdir(parents=True)
    (mead / "001.mp4").symlink_to(real)
    res = runner.invoke(app, ["prep", "mead", str(tmp_path / "mead"), "--out", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    r = read_manifest(tmp_path / "m")[0]
    assert (r["speaker"], r["emotion"], r["intensity"]) == ("M003", "fearful", 2)  # RAVDESS's names


def test_git_lfs_pointers_are_named_as_such(shared, tmp_path):
    """CREMA-D ships through Git LFS: cloned without it (or past GitHub's LFS quota), each file is a
    130-byte pointer. Each is one line saying so, not a decoder's complaint."""
    crema = tmp_path / "crema"
    pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize 123456\n"
    for i, sub in enumerate(("AudioWAV/1001_DFA_ANG_XX.wav", "VideoFlash/1001_DFA_ANG_XX.flv")):
        (crema / sub).parent.mkdir(parents=True)
        (crema / sub).write_text(pointer.format(str(i) * 64))
    shutil.copy(shared / "data/ravdess/Audio_Speech_16k/Actor_01/03-01-01-01-01-01-01.flac", crema)
    res = runner.invoke(app, ["prep", "folder", str(crema), "--out", str(tmp_path / "s"), "--json", "-"])
    assert res.exit_code == 3, res.output
    summary = json.loads(res.stdout)
    assert summary["written"] == 1 and len(summary["errors"]) == 2
    why = "a Git LFS pointer, not the file itself (`git lfs pull` fetches it)"
    assert all(e["error"] == f"{e['source']}: {why}" for e in summary["errors"]), summary["errors"]


def test_a_folder_of_speech_in_the_common_formats_is_found_without_a_table(tmp_path):
    """Phones and voice recorders save Opus, AAC, AIFF, WMA: each is a clip, not passed over."""
    wav = tmp_path / "speech.wav"
    sf.write(wav, np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32), 16000)
    (tmp_path / "f/ann").mkdir(parents=True)
    suffixes = (".opus", ".aac", ".aiff", ".wma", ".ogg")
    for suffix in suffixes:
        memo = tmp_path / f"f/ann/memo-{suffix[1:]}{suffix}"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(wav), str(memo)], check=True)
    (tmp_path / "f/ann/notes.txt").write_text("not speech")
    res = runner.invoke(app, ["prep", "folder", str(tmp_path / "f"), "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    recs = read_manifest(tmp_path / "s")
    assert sorted(r["id"] for r in recs) == sorted(f"ann__memo-{x[1:]}" for x in suffixes)
    assert all(r["speaker"] == "ann" and abs(r["duration"] - 1.0) < 0.1 for r in recs), recs  # codec padding


def test_a_folders_talkface_renders_are_not_faces_to_learn_from(tmp_path, shared):
    """`prep folder takes` after `animate takes --render takes`: the renders (a shaded model head
    the tracker finds) were prepared as clips of the speaker; they are passed over with a note, as
    in `animate`, and a folder of renders alone is an error naming them."""
    from talkface_cli.face.sequence import ParamSequence

    flac = sorted(shared.glob("data/ravdess/Audio_Speech_16k/Actor_01/*.flac"))[0]
    (tmp_path / "f/ann").mkdir(parents=True)
    shutil.copy(flac, tmp_path / "f/ann/a.flac")
    ict = ICTFace()
    params = np.zeros((8, len(ict.param_names)), np.float32)
    params[:, ict.param_names.index("jawOpen")] = np.linspace(0, 1, 8)
    ParamSequence(params, ict.param_names).save(tmp_path / "face.npz")
    rendered = runner.invoke(
        app, ["render", str(tmp_path / "face.npz"), "--size", "64", "--out", str(tmp_path / "f/ann/a.mp4")]
    )
    assert rendered.exit_code == 0, rendered.output
    prep = lambda root: runner.invoke(
        app, ["prep", "folder", str(root), "--out", str(tmp_path / "s"), "--json", "-"]
    )  # noqa: E731
    res = prep(tmp_path / "f")
    assert res.exit_code == 0, res.output
    assert [r["id"] for r in read_manifest(tmp_path / "s")] == ["ann__a"]
    assert json.loads(res.stdout)["notes"] == [
        f"{tmp_path / 'f'}: passed over 1 video(s) talkface rendered (ann/a.mp4): no face to learn from; "
        "list one in --labels to take it"
    ]
    (tmp_path / "f/ann/a.flac").unlink()
    alone = prep(tmp_path / "f")
    assert alone.exit_code == 1 and str(alone.exception) == (
        f"{tmp_path / 'f'}: no video or audio files found but 1 that talkface rendered (ann/a.mp4); "
        "list one in --labels to take it"
    )


def test_clips_whose_file_left_root_are_kept_and_said(tmp_path, shared):
    """A store only grows (a CSV of a subset must not empty it), but a clip whose file left ROOT was
    kept without a word: a re-run now names it; clips still found, and a first run, say nothing."""
    flacs = sorted(shared.glob("data/ravdess/Audio_Speech_16k/Actor_01/*.flac"))[:3]
    (tmp_path / "f/ann").mkdir(parents=True)
    for flac in flacs:
        (tmp_path / "f/ann" / flac.name).symlink_to(flac)
    first = run_recipe(Folder(), tmp_path / "f", tmp_path / "s", PrepOptions(jobs=1))
    again = run_recipe(Folder(), tmp_path / "f", tmp_path / "s", PrepOptions(jobs=1))
    assert not any("earlier runs" in n for n in first.notes + again.notes), first.notes + again.notes
    (tmp_path / "f/ann" / flacs[1].name).unlink()
    later = run_recipe(Folder(), tmp_path / "f", tmp_path / "s", PrepOptions(jobs=1))
    gone = f"ann__{flacs[1].stem}"
    assert later.clips == 3 and gone in {r["id"] for r in read_manifest(tmp_path / "s")}
    assert [n for n in later.notes if "earlier runs" in n] == [
        f"1 clip(s) from earlier runs whose file or labels row this run did not find are kept ({gone}, ...): "
        "a store only grows; to drop one, remove its clips/<id>.npz and .json and run prep again"
    ]


APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(4000)  # macOS's ._ file


def test_what_systems_leave_beside_a_corpus_is_passed_over(tmp_path):
    """A corpus copied from a Mac to a USB or network disk has an AppleDouble `._NAME` beside each
    file, one unzipped from a Mac's zip a `__MACOSX/` of them; Jupyter keeps copies in
    `.ipynb_checkpoints/`, a desktop its `.Trash-1000/`. They failed as unreadable clips, or were
    clips twice; a zip's `__MACOSX/` members too."""
    import zipfile

    from data_recipes.mead import Mead
    from data_recipes.packed import members

    wav = tmp_path / "f/ann/memo.wav"
    wav.parent.mkdir(parents=True)
    sf.write(wav, np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32), 16000)
    for rel in ("ann/._memo.wav", "__MACOSX/ann/._memo.wav", "._clip.mp4", ".DS_Store"):
        (tmp_path / "f" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "f" / rel).write_bytes(APPLE_DOUBLE)
    for rel in ("ann/.ipynb_checkpoints/memo-checkpoint.wav", ".Trash-1000/files/old.wav"):
        (tmp_path / "f" / rel).parent.mkdir(parents=True)
        shutil.copy(wav, tmp_path / "f" / rel)
    prep = ["prep", "folder", str(tmp_path / "f"), "--out", str(tmp_path / "s"), "--json", "-"]
    res = runner.invoke(app, prep)
    assert res.exit_code == 0, res.output
    assert [r["id"] for r in read_manifest(tmp_path / "s")] == ["ann__memo"]
    assert json.loads(res.stdout)["failed"] == 0
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:
        z.write(wav, "Actor_01/memo.wav")
        z.writestr("__MACOSX/Actor_01/._memo.wav", APPLE_DOUBLE)
        z.writestr("Actor_01/._memo.wav", APPLE_DOUBLE)
    assert members(tmp_path / "a.zip") == ["Actor_01/memo.wav"]
    mead = tmp_path / "mead"  # MEAD unpacked from a Mac's copy: __MACOSX/M003/video/ made a speaker
    for rel in ("front/angry/level_1/001.mp4", "front/angry/level_1/._001.mp4"):
        for where in (mead / "M003/video", mead / "__MACOSX/M003/video"):
            (where / rel).parent.mkdir(parents=True, exist_ok=True)
            (where / rel).write_bytes(APPLE_DOUBLE)
    (mead / "M003/audio/angry/level_1").mkdir(parents=True)
    (mead / "M003/audio/angry/level_1/001.m4a").write_bytes(APPLE_DOUBLE)
    jobs, errors = Mead().discover(mead, PrepOptions())
    assert [j.id for j in jobs] == ["M003_angry_level_1_001"] and errors == []


def test_crema_d_is_labelled_by_its_names_without_a_table(tmp_path):
    """CREMA-D as its repository (or Kaggle) gives it: SPEAKER_SENTENCE_EMOTION_LEVEL names in
    AudioWAV/ and AudioMP3/ are labelled from the names, the .wav and .mp3 of a sentence one take;
    other files keep the folder as speaker; a CSV's cells come first."""
    wav = tmp_path / "speech.wav"
    sf.write(wav, np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32), 16000)
    crema = tmp_path / "CREMA-D"
    for rel in (
        "AudioWAV/1001_DFA_ANG_XX.wav",
        "AudioWAV/1091_IEO_HAP_HI.wav",
        "AudioMP3/1001_DFA_ANG_XX.mp3",
    ):
        (crema / rel).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(wav), str(crema / rel)], check=True)
    (crema / "extra").mkdir()
    shutil.copy(wav, crema / "extra/memo.wav")
    res = runner.invoke(app, ["prep", "folder", str(crema), "--out", str(tmp_path / "s"), "--json", "-"])
    assert res.exit_code == 0, res.output
    assert (
        f"{crema}: 3 file(s) labelled by their CREMA-D names (1001_DFA_ANG_XX)"
        in json.loads(res.stdout)["notes"]
    )
    got = {
        r["id"]: (r["speaker"], r["emotion"], r["intensity"], r["statement"], r["take"])
        for r in read_manifest(tmp_path / "s")
    }
    assert got == {
        "AudioWAV__1001_DFA_ANG_XX": ("1001", "angry", None, "DFA", "1001/1001_DFA_ANG_XX"),
        "AudioMP3__1001_DFA_ANG_XX": ("1001", "angry", None, "DFA", "1001/1001_DFA_ANG_XX"),
        "AudioWAV__1091_IEO_HAP_HI": ("1091", "happy", 3, "IEO", None),
        "extra__memo": ("extra", None, None, None, None),
    }
    (tmp_path / "labels.csv").write_text("path,emotion\nAudioWAV/1091_IEO_HAP_HI.wav,sad\n")
    args = [
        "prep",
        "folder",
        str(crema),
        "--labels",
        str(tmp_path / "labels.csv"),
        "--out",
        str(tmp_path / "t"),
    ]
    assert runner.invoke(app, args).exit_code == 0
    (r,) = read_manifest(tmp_path / "t")
    assert (r["speaker"], r["emotion"], r["intensity"]) == ("1091", "sad", 3)


def test_crema_d_and_iemocap_codes_label_as_ravdess_names(tmp_path):
    """CREMA-D writes ANG / HAP with LO / MD / HI (XX: unspecified), IEMOCAP neu / hap / fru:
    one class per emotion across corpora; other classes are kept as written."""
    from data_recipes.labels import read_labels

    rows = [
        "path,speaker,emotion,intensity",
        "1001_DFA_ANG_XX.wav,1001,ANG,XX",
        "1001_IEO_HAP_HI.wav,1001,HAP,HI",
    ]
    rows += ["1001_IEO_SAD_LO.wav,1001,SAD,low", "Ses01F_a.wav,Ses01F,fru,", "Ses01F_b.wav,Ses01F,neu,2"]
    (tmp_path / "crema.csv").write_text("\n".join(rows) + "\n")
    got = {
        p: (v["emotion"], v["intensity"]) for p, v in read_labels(tmp_path / "crema.csv", tmp_path).items()
    }
    assert got == {
        "1001_DFA_ANG_XX.wav": ("angry", None),
        "1001_IEO_HAP_HI.wav": ("happy", 3),
        "1001_IEO_SAD_LO.wav": ("sad", 1),
        "Ses01F_a.wav": ("fru", None),
        "Ses01F_b.wav": ("neutral", 2),
    }
    (tmp_path / "bad.csv").write_text("path,intensity\na.wav,very\n")
    with pytest.raises(TalkfaceError, match="line 2: intensity 'very' is not a whole number or a level"):
        read_labels(tmp_path / "bad.csv", tmp_path)


def test_a_labels_csv_as_spreadsheets_and_scripts_write_it(tmp_path):
    """Excel's "CSV UTF-8" (a byte-order mark, CRLF, `;` where the decimal comma is used, header
    names capitalised) and paths written "./a/x.wav", "a\\x.wav" or absolute label the files they
    name; a row naming a file outside ROOT or relabelling a file is one line; a listed file that
    is missing or of no usable kind is reported and the rest prepared (exit 3)."""
    rng = np.random.default_rng(0)
    (tmp_path / "f/a").mkdir(parents=True)
    for name in ("one", "two", "three"):
        sf.write(tmp_path / f"f/a/{name}.wav", rng.normal(0, 0.1, 16000).astype(np.float32), 16000)
    (tmp_path / "f/a/notes.txt").write_text("not speech")
    rows = ["Path;Speaker;Emotion", "./a/one.wav;anna;Happiness", "a\\two.wav;bob;sad"]
    rows += [f"{tmp_path / 'f/a/three.wav'};cy;angry", "a/four.wav;dee;sad", "a/notes.txt;eve;sad"]
    (tmp_path / "labels.csv").write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode())
    prep = ["prep", "folder", str(tmp_path / "f"), "--labels", str(tmp_path / "labels.csv")]
    res = runner.invoke(app, [*prep, "--out", str(tmp_path / "s")])
    assert res.exit_code == 3, res.output
    got = {r["id"]: (r["speaker"], r["emotion"]) for r in read_manifest(tmp_path / "s")}
    assert got == {"a__one": ("anna", "happy"), "a__two": ("bob", "sad"), "a__three": ("cy", "angry")}
    errors = {e["source"]: e["error"] for e in json.loads((tmp_path / "s/errors.json").read_text())}
    assert errors[str(tmp_path / "f/a/four.wav")].endswith("four.wav: listed but missing")
    assert errors[str(tmp_path / "f/a/notes.txt")].endswith(
        "notes.txt: listed, but not a video or audio file"
    )
    for bad, said in [
        ("path,speaker\n../one.wav,x\n", "line 2: ../one.wav is not a file inside"),
        ("path,emotion\na/one.wav,sad\n./a/one.wav,happy\n", "lines 2 and 3 give a/one.wav different labels"),
    ]:
        (tmp_path / "bad.csv").write_text(bad)
        res = runner.invoke(
            app, [*prep[:3], "--labels", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "b")]
        )
        assert isinstance(res.exception, TalkfaceError) and said in str(res.exception), res.output
    np.save(tmp_path / "f/a/one.npy", rng.random((30, 52)).astype(np.float32))  # EmoTalk's curves
    (tmp_path / "etf.csv").write_text("path,speaker\n./a/one.npy,anna\na/one.wav,anna\n")
    res = runner.invoke(
        app,
        [
            "prep",
            "import",
            str(tmp_path / "f"),
            "--format",
            "etf",
            "--labels",
            str(tmp_path / "etf.csv"),
            "--out",
            str(tmp_path / "i"),
        ],
    )
    assert res.exit_code == 3, res.output
    assert [r["speaker"] for r in read_manifest(tmp_path / "i")] == ["anna"]
    [error] = json.loads((tmp_path / "i/errors.json").read_text())
    assert error["error"].endswith("one.wav: listed, but not a .npy file")


def test_one_recording_kept_as_several_files_stays_in_one_split(shared, tmp_path):
    """CREMA-D ships each sentence as AudioWAV/X.wav and AudioMP3/X.mp3; a camera and a recorder
    keep one take under two names. Split by clip, such files must not land apart, or a test clip's
    sound is trained on through its twin (other samples: MP3 vs PCM). Files of one speaker and one
    name are taken for one recording; a labels CSV's take column names the others, and a
    corrected take is read on a re-run."""
    rng = np.random.default_rng(0)
    stems = [f"100{s}_{w}_ANG_XX" for s in (1, 2) for w in ("DFA", "IEO", "IOM", "ITH", "ITS", "MTI")]
    for d in ("AudioWAV", "AudioMP3", "VideoFlash", "cam", "rec"):
        (tmp_path / "f" / d).mkdir(parents=True)
    rows = ["path,speaker,emotion,take"]
    for stem in stems:
        wav = tmp_path / f"f/AudioWAV/{stem}.wav"
        sf.write(wav, rng.normal(0, 0.1, 16000).astype(np.float32), 16000)
        mp3 = tmp_path / f"f/AudioMP3/{stem}.mp3"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(wav), str(mp3)], check=True)
        rows += [f"AudioWAV/{stem}.wav,{stem[:4]},ANG,", f"AudioMP3/{stem}.mp3,{stem[:4]},ANG,"]
    flv = tmp_path / f"f/VideoFlash/{stems[0]}.flv"  # CREMA-D's videos are Flash: tracked as video
    real = shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(real), "-c:v", "flv1", "-c:a", "mp3", str(flv)], check=True
    )
    rows.append(f"VideoFlash/{stems[0]}.flv,{stems[0][:4]},ANG,")
    for name in ("cam/C0007.wav", "rec/ZOOM0003.wav"):
        sf.write(tmp_path / "f" / name, rng.normal(0, 0.1, 16000).astype(np.float32), 16000)
    (tmp_path / "labels.csv").write_text(
        "\n".join([*rows, "cam/C0007.wav,1001,,s1-t3", "rec/ZOOM0003.wav,1001,,s1-t2"])
    )
    prep = ["prep", "folder", str(tmp_path / "f"), "--labels", str(tmp_path / "labels.csv")]
    res = runner.invoke(app, [*prep, "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())
    pair = f"(AudioWAV/{stems[0]}.wav and AudioMP3/{stems[0]}.mp3, ...)"
    assert f"f: 12 recording(s) kept as several files of one speaker and name {pair} keep to one" in said
    recs = read_manifest(tmp_path / "s")
    takes = {r["id"]: r["take"] for r in recs}
    assert all(takes[f"Audio{d}__{s}"] == f"{s[:4]}/{s}" for s in stems for d in ("WAV", "MP3"))
    split = {r["id"]: r["split"] for r in recs}
    assert all(split[f"AudioWAV__{s}"] == split[f"AudioMP3__{s}"] for s in stems), split
    flash = next(r for r in recs if r["id"] == f"VideoFlash__{stems[0]}")
    assert (flash["face_model"], flash["take"], flash["split"]) == (
        "ict",
        takes[f"AudioWAV__{stems[0]}"],
        split[f"AudioWAV__{stems[0]}"],
    )
    assert set(split.values()) == {"train", "val", "test"}
    # the recorder's take was mistyped (t2 for t3): corrected, the two files are one recording
    (tmp_path / "labels.csv").write_text(
        "\n".join([*rows, "cam/C0007.wav,1001,,s1-t3", "rec/ZOOM0003.wav,1001,,s1-t3"])
    )
    res = runner.invoke(app, [*prep, "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    recs = read_manifest(tmp_path / "s")
    by_id = {r["id"]: r for r in recs}
    assert by_id["cam__C0007"]["take"] == by_id["rec__ZOOM0003"]["take"] == "s1-t3"
    assert by_id["cam__C0007"]["split"] == by_id["rec__ZOOM0003"]["split"]
    # A model that trained on the WAVs has heard their MP3 twins, whichever store they are in.
    clips = load_clips([tmp_path / "s"])
    (tmp_path / "model").mkdir()
    meta, files = provenance([tmp_path / "s"], [c for c in clips if c.id.startswith("AudioWAV")])
    assert meta["data_terms"] == ["folder: the data's own terms (your files)"]
    (tmp_path / "model" / TRAINED).write_bytes(files[TRAINED])
    mp3s = [c for c in clips if c.id.startswith("AudioMP3")]
    assert sorted(seen_in_training(tmp_path / "model", mp3s)) == sorted(c.id for c in mp3s)


def test_features_are_cached_and_hubert_is_local_only(tmp_path):
    from tests.hubert_standin import make_hubert

    run_recipe(Synthetic(), None, tmp_path / "s", PrepOptions(extra={"speakers": 1, "sentences": 1}))
    res = runner.invoke(app, ["prep", "features", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    feats = sorted((tmp_path / "s/features/logmel80-clean-hp").glob("*.npy"))
    r = read_manifest(tmp_path / "s")[0]
    assert len(feats) == 15 and np.load(feats[0]).shape[1] == 80
    assert np.load(tmp_path / f"s/features/logmel80-clean-hp/{r['id']}.npy").shape[0] == 2 * r["frames"]
    stamp = feats[0].stat().st_mtime_ns
    runner.invoke(app, ["prep", "features", str(tmp_path / "s")])
    assert feats[0].stat().st_mtime_ns == stamp  # not recomputed
    make_hubert(tmp_path / "hubert", 16)
    res = runner.invoke(app, ["prep", "features", str(tmp_path / "s"), "--hubert", str(tmp_path / "hubert")])
    assert res.exit_code == 0, res.output
    info = json.loads(next((tmp_path / "s/features").glob("hubert-*/encoder.json")).read_text())
    assert info["dim"] == 16 and info["kind"] == "hubert"
    res = runner.invoke(
        app, ["prep", "features", str(tmp_path / "s"), "--hubert", "facebook/hubert-large-ls960-ft"]
    )
    assert res.exit_code != 0  # not in the cache, and never downloaded


def test_a_read_only_store_caches_its_features_in_the_home(tmp_path, talkface_home, monkeypatch):
    """A colleague's store or a read-only dataset mount: features go under $TALKFACE_HOME/cache,
    computed once; the store is not touched."""
    import talkface_cli.data.cache as cache

    store = tmp_path / "s"
    run_recipe(Synthetic(), None, store, PrepOptions(extra={"speakers": 1, "sentences": 1}))
    real = cache.can_create
    monkeypatch.setattr(cache, "can_create", lambda p: store not in Path(p).parents and real(p))
    res = runner.invoke(app, ["prep", "features", str(store), "--json", str(tmp_path / "f.json")])
    assert res.exit_code == 0, res.output
    info = json.loads((tmp_path / "f.json").read_text())
    folder = Path(info["folder"])
    assert folder.parent.parent == talkface_home / "cache" and folder.name == "logmel80-clean-hp"
    assert not (store / "features").exists() and len(list(folder.glob("*.npy"))) == 15
    res = runner.invoke(app, ["prep", "features", str(store), "--json", str(tmp_path / "f.json")])
    assert json.loads((tmp_path / "f.json").read_text())["computed"] == 0
