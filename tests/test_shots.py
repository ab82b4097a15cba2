"""A video's face track breaks where its shot changes or the tracker moves to another face, as
syncnet_python's pipeline breaks it: prep cuts the video there into clips of one face each."""

from __future__ import annotations

import numpy as np

from data_recipes.base import PrepOptions, run_recipe
from data_recipes.folder import Folder
from talkface_cli.data.store import HOP, load_clip, read_manifest
from talkface_cli.track.shots import SAME_FACE, SHOT_CHANGE, content_change, iou, thumbnail
from talkface_cli.track.video import face_runs, track_video
from tests.videos import REAL, reencoded, two_faces, zoom_cut

OTHER = "data/ravdess/Video_Speech/Actor_05/01-01-04-02-01-02-05.mp4"  # the same actor, another take


def test_content_change_and_iou():
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (72, 128, 3), np.uint8) for _ in range(2))
    assert thumbnail(a).shape == (144, 256, 3)
    assert content_change(thumbnail(a), thumbnail(a)) == 0
    assert content_change(thumbnail(a), thumbnail(b)) > SHOT_CHANGE  # another picture
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1 and iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == 1 / 3 < SAME_FACE < iou((0, 0, 10, 10), (2, 0, 12, 10))


def test_face_runs_begin_where_a_new_face_starts():
    found, starts = np.ones(90, bool), np.zeros(90, bool)
    assert face_runs(found, starts) == face_runs(found) == [(0, 90)]
    starts[40] = True
    assert face_runs(found, starts) == [(0, 40), (40, 90)]
    found[36:40] = False  # interpolated between two faces: in neither run
    assert face_runs(found, starts) == [(0, 36), (40, 90)]
    found[:3], starts[3] = False, True  # a held start before a new face: the face it holds is gone
    assert face_runs(found, starts) == [(3, 36), (40, 90)]
    found[50:60] = False  # a long miss still ends a run
    assert face_runs(found, starts) == [(3, 36), (40, 50), (60, 90)]


def test_a_shot_change_is_tracked_from_its_first_frame(shared, tmp_path):
    """A cut at 1.6 s (frame 40) to the face zoomed in 2x. Before, the tracker followed the old
    face's place and took two frames to find the new one: 0.23 and 0.05 inter-ocular distances off
    the landmarks the zoomed video alone gives, where a frame after is 0.01 off."""
    cut = track_video(zoom_cut(shared / REAL, tmp_path / "cut.mp4", 1.6))
    alone = track_video(zoom_cut(shared / REAL, tmp_path / "zoomed.mp4", 0))
    assert cut.starts.nonzero()[0].tolist() == [40] and cut.found.all()
    assert cut.landmarks.shape == (81, 68, 3)  # iBUG-68 points kept, not the mesh's 468
    scale = np.linalg.norm(alone.landmarks[:, 36, :2] - alone.landmarks[:, 45, :2], axis=1)  # eye corners
    off = np.linalg.norm(cut.landmarks[..., :2] - alone.landmarks[..., :2], axis=2).mean(1) / scale
    assert off[40:].max() < 0.02 and off[:40].min() > 0.3, off
    plain = track_video(reencoded(shared / REAL, tmp_path / "plain.mp4"))
    assert not plain.starts.any()


def test_a_tracker_that_moves_to_another_face_starts_a_new_track(shared, tmp_path):
    """The right face is hidden for three frames while the left one is in view: the tracker finds
    the left face and stays on it, with no frame missed. Before, one clip went on with it."""
    video = two_faces(shared / REAL, shared / OTHER, tmp_path / "two.mp4")
    track = track_video(video)
    side = track.landmarks[..., 0].mean(1) > 640  # (T,) the right face
    assert track.found.all() and side[:38].all() and not side[38:].any()
    assert track.starts.nonzero()[0].tolist() == [38]


def test_prep_cuts_a_video_at_a_change_of_shot(shared, tmp_path):
    cut = zoom_cut(shared / REAL, tmp_path / "in" / "talk.mp4", 1.6)
    s = run_recipe(Folder(), cut.parent, tmp_path / "store", PrepOptions())
    records = {r["id"]: r for r in read_manifest(tmp_path / "store")}
    assert s.clips == 2 and not s.errors and sorted(records) == ["talk", "talk+part2"]
    assert any(
        "1 video(s) cut where the face is missed, the picture stops or the shot changes" in n for n in s.notes
    )
    assert [(records[k]["frames"], records[k]["start_s"]) for k in sorted(records)] == [(40, 0.0), (41, 1.6)]
    whole = np.concatenate([load_clip(tmp_path / "store", k)["audio"] for k in sorted(records)])
    assert len(whole) == 81 * HOP  # every frame's sound, in one clip or the other
    pose = [load_clip(tmp_path / "store", k)["pose"] for k in sorted(records)]
    assert all(np.isfinite(p).all() for p in pose)


def test_a_video_whose_shot_changes_every_moment_gives_one_line(shared, tmp_path):
    video = zoom_cut(shared / REAL, tmp_path / "in" / "reel.mp4", "lt(mod(t,1.6),0.8)")  # 0.8 s shots
    s = run_recipe(Folder(), video.parent, tmp_path / "store", PrepOptions())
    assert s.clips == 0 and [e["error"] for e in s.errors] == [
        f"{video}: no stretch of 1 s with the face found (it is missed for more than 5 frames at a "
        "time, or the shot or face changes)"
    ]


def test_a_video_reference_is_fitted_one_shot_at_a_time(use_chain, shared, tmp_path, monkeypatch):
    import torch

    from talkface_cli.inference import animate
    from talkface_cli.track import fit

    segments, fit_landmarks = [], fit.fit_landmarks
    monkeypatch.setattr(
        fit, "fit_landmarks", lambda *a, **k: segments.append(k["segments"]) or fit_landmarks(*a, **k)
    )
    anim = animate.Animator.load("emg/t", torch.device("cpu"))
    anim.reference_emotion(zoom_cut(shared / REAL, tmp_path / "cut.mp4", 1.6))
    assert segments == [[40, 41]]
