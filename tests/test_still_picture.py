"""A picture that stops moving while the sound goes on (a photo over a podcast's sound, a call's
frozen video) is no face to learn from: prep cuts it out as it cuts a missed face."""

from __future__ import annotations

import cv2
import numpy as np

from data_recipes.base import PrepOptions, run_recipe
from data_recipes.folder import Folder
from data_recipes.video import frozen_over_speech
from talkface_cli.data.store import HOP, load_clip, read_manifest
from talkface_cli.track.video import FROZEN, frames_at_25fps, frozen, open_video, track_video, unchanged
from tests.videos import REAL, decimated, frozen_at, muted, reencoded


def test_frozen_frames_are_runs_of_still_ones_of_a_second_or_more():
    still = np.zeros(100, bool)
    still[10 : 10 + FROZEN - 1] = True  # just short of a second: a face at rest
    still[50 : 50 + FROZEN] = True
    out = frozen(still)
    assert not out[:50].any() and out[50 : 50 + FROZEN].all() and not out[50 + FROZEN :].any()
    assert frozen(np.ones(FROZEN, bool)).all() and not frozen(np.zeros(0, bool)).any()


def test_a_still_run_is_cut_only_where_speech_is_heard():
    rng = np.random.default_rng(0)
    audio = np.zeros(80 * HOP, np.float32)
    audio[: 20 * HOP] = audio[60 * HOP :] = 0.1 * rng.standard_normal(20 * HOP)
    still = np.zeros(80, bool)
    still[25:50] = True  # over silence: a rendered face at rest
    still[5:15] = still[55:70] = True  # over speech, and one that runs into it
    assert frozen_over_speech(still, audio).nonzero()[0].tolist() == [*range(5, 15), *range(55, 70)]


def test_unchanged_tells_a_repeated_picture_from_a_face_at_rest():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (60, 80, 3), np.uint8)
    box = (10, 5, 70, 55)
    noisy = np.clip(frame + rng.integers(-1, 2, frame.shape), 0, 255).astype(np.uint8)  # sensor noise
    assert unchanged(frame, frame.copy(), box)
    assert not unchanged(frame, noisy, box)
    assert not unchanged(frame, frame, (10, 5, 10, 55))  # an empty box tells nothing


def test_a_live_face_is_never_taken_for_a_still_picture(shared, tmp_path):
    """RAVDESS's face at rest, as it is and squeezed hard by the encoder (which keeps blocks that
    barely change), is still for at most a few frames at a time, far from FROZEN."""
    for video in (shared / REAL, reencoded(shared / REAL, tmp_path / "crf45.mp4", crf=45)):
        track = track_video(video)
        assert not frozen(track.still).any() and track.still.mean() < 0.2, (video, track.still)


def test_a_frozen_stretch_is_cut_out_of_the_clip(shared, tmp_path):
    """Source frames 30-62 (1.0-2.07 s) show frame 30: the 25 fps frames 26-52 repeat frame 25's
    picture. Before, the fit took them for a face holding still while it spoke."""
    whole = reencoded(shared / REAL, tmp_path / "whole" / "call.mp4")
    cut = frozen_at(shared / REAL, tmp_path / "cut" / "call.mp4", 30, 62)
    assert frozen(track_video(cut).still).nonzero()[0].tolist() == list(range(26, 53))
    run_recipe(Folder(), whole.parent, tmp_path / "s_whole", PrepOptions())
    s = run_recipe(Folder(), cut.parent, tmp_path / "s_cut", PrepOptions(max_miss=0.5))  # a third
    assert s.clips == 2 and not s.errors, s.errors
    assert any(
        "1 video(s) cut where the face is missed, the picture stops or the shot changes" in n for n in s.notes
    )
    ref = load_clip(tmp_path / "s_whole", "call")
    records = {r["id"]: r for r in read_manifest(tmp_path / "s_cut")}
    for (clip_id, r), (a, b) in zip(sorted(records.items()), [(0, 26), (53, 81)]):
        assert (r["frames"], r["start_s"]) == (b - a, a / 25), r
        part = load_clip(tmp_path / "s_cut", clip_id)
        np.testing.assert_array_equal(part["audio"], ref["audio"][a * HOP : b * HOP])
        assert np.abs(part["params"] - ref["params"][a:b]).mean() < 0.05  # the same face, fitted


def test_a_frame_held_by_a_variable_rate_video_is_shown_until_the_next(shared, tmp_path):
    """A call recorder writes a frozen picture as one frame held until the picture moves again (here
    1.2 s). The nearest frame in time showed the picture after the freeze for the second half of it,
    0.6 s early, and split the still stretch in two, each too short to be found."""
    vfr = decimated(frozen_at(shared / REAL, tmp_path / "cbr.mp4", 30, 62), tmp_path / "call.mp4")
    cap, fps, n = open_video(vfr)
    stamps = []
    for _ in iter(lambda: cap.read()[0], False):
        stamps.append(cap.get(cv2.CAP_PROP_POS_MSEC) / 1000)
    cap.release()
    held = int(np.argmax(np.diff(stamps)))  # the frozen picture: shown from 1.0 s to about 2.2 s
    assert np.diff(stamps)[held] > 1.0 and n == len(stamps)
    cap, fps, n = open_video(vfr)
    frames = list(frames_at_25fps(cap, vfr, fps, n, 81))
    cap.release()
    first = int(np.ceil(stamps[held] * 25))  # the first 25 fps frame at or after it
    for t in range(first, int(stamps[held + 1] * 25)):
        assert np.array_equal(frames[t], frames[first]), t
    assert frozen(track_video(vfr).still).sum() >= 25


def test_a_picture_still_over_silence_stays(shared, tmp_path):
    """A rendered face at rest, or a call's picture frozen while nobody speaks, shows what a face
    does in silence: the freeze of the test above, its sound muted, is kept whole."""
    frozen_video = frozen_at(shared / REAL, tmp_path / "frozen.mp4", 30, 62)
    video = muted(frozen_video, tmp_path / "in" / "render.mp4", 0.95, 2.15)
    s = run_recipe(Folder(), video.parent, tmp_path / "store", PrepOptions())
    assert s.clips == 1 and not s.errors and not s.notes, (s.errors, s.notes)
    assert read_manifest(tmp_path / "store")[0]["frames"] == 81


def test_a_photo_over_speech_gives_one_line(shared, tmp_path):
    photo = frozen_at(shared / REAL, tmp_path / "in" / "podcast.mp4", 0, 100_000)
    s = run_recipe(Folder(), photo.parent, tmp_path / "store", PrepOptions())
    still = "its picture is still for 3.2 s from 00:00: a photo or frozen video; "
    assert s.clips == 0 and [e["error"] for e in s.errors] == [
        f"{photo}: face found moving in only 1% of frames ({still}more than 20% missed; "
        "--max-miss allows more)"
    ]
    s = run_recipe(Folder(), photo.parent, tmp_path / "store2", PrepOptions(max_miss=1.0))
    assert [e["error"] for e in s.errors] == [
        f"{photo}: no stretch of 1 s with the face found moving ({still}it is missed for more than 5 frames "
        "at a time)"
    ]
