"""A video whose face is missed for a while (a cutaway, the head turned away, a hand over it) is
cut there into clips of the stretches with the face; no frame is fitted to a face it lacks."""

from __future__ import annotations

import json

import numpy as np

from data_recipes.base import PrepOptions, run_recipe
from data_recipes.folder import Folder
from talkface_cli.data.store import HOP, clip_paths, load_clip, read_manifest, validate
from talkface_cli.face.ict import ICTFace
from talkface_cli.track.fit import jaw_opening
from talkface_cli.track.video import face_runs
from tests.videos import REAL, blacked


def test_face_runs_end_where_the_face_is_missed_for_long():
    found = np.ones(90, bool)
    assert face_runs(found) == [(0, 90)]
    found[30:35] = False  # 5 frames: filled in
    assert face_runs(found) == [(0, 90)]
    found[50:56] = False  # 6 frames: a cut
    assert face_runs(found) == [(0, 50), (56, 90)]
    found[:6], found[-3:] = False, False  # a long miss at the start is cut off, a short one held
    assert face_runs(found) == [(6, 50), (56, 90)]
    assert face_runs(np.zeros(10, bool)) == []


def test_a_video_whose_face_is_missed_for_a_while_is_cut_into_parts(shared, tmp_path):
    """Before, the frames of a 0.4 s cutaway were fitted to landmarks of zeros: the clip's head
    translation was infinite (its render blank) and the fit made up a face there."""
    real = shared / REAL
    whole, cut = tmp_path / "whole" / "clip.mp4", tmp_path / "cut" / "clip.mp4"
    blacked(real, whole)  # the same encoding, no black
    blacked(real, cut, (1.2, 1.6))
    rows = "path,speaker,emotion\nclip.mp4,actor5,happy\n"
    (cut.parent / "labels.csv").write_text(rows)
    s = run_recipe(Folder(), whole.parent, tmp_path / "s_whole", PrepOptions())
    opts = PrepOptions(extra={"labels": str(cut.parent / "labels.csv")})
    c = run_recipe(Folder(), cut.parent, tmp_path / "s_cut", opts)
    assert s.clips == 1 and c.written == 1 and c.clips == 2 and not c.problems, c.errors
    assert any(
        "1 video(s) cut where the face is missed, the picture stops or the shot changes, into 2 clip(s)" in n
        for n in c.notes
    ), c.notes

    ref = load_clip(tmp_path / "s_whole", "clip")
    records = {r["id"]: r for r in read_manifest(tmp_path / "s_cut")}
    assert sorted(records) == ["clip", "clip+part2"]
    model = ICTFace()
    for (clip_id, r), (a, b) in zip(sorted(records.items()), [(0, 30), (40, len(ref["params"]))]):
        part = load_clip(tmp_path / "s_cut", clip_id)
        assert (r["frames"], r["start_s"], r["part_of"], r["parts"]) == (b - a, a / 25, "clip", 2), r
        assert r["emotion"] == "happy" and r["take"] == "clip"
        assert np.isfinite(part["pose"]).all() and np.isfinite(part["params"]).all()
        np.testing.assert_array_equal(part["audio"], ref["audio"][a * HOP : b * HOP])  # the same sound
        jaw, jaw_ref = jaw_opening(model, part["params"]), jaw_opening(model, ref["params"][a:b])
        assert np.corrcoef(jaw, jaw_ref)[0, 1] > 0.9 and np.abs(jaw - jaw_ref).mean() < 0.05
    assert len({r["split"] for r in records.values()}) == 1  # one recording, one split

    again = run_recipe(Folder(), cut.parent, tmp_path / "s_cut", opts)
    assert (again.written, again.skipped, again.relabelled, again.clips) == (0, 1, 0, 2)
    (cut.parent / "labels.csv").write_text(rows.replace("happy", "sad"))
    again = run_recipe(Folder(), cut.parent, tmp_path / "s_cut", opts)
    assert (again.written, again.relabelled) == (0, 2)
    assert {r["emotion"] for r in read_manifest(tmp_path / "s_cut")} == {"sad"}

    npz = clip_paths(tmp_path / "s_cut", "clip+part2")[0]
    arrays = dict(np.load(npz))
    arrays["pose"][3, 3] = np.inf  # what a faceless stretch left in clips made before
    np.savez(npz, **arrays)
    assert validate(tmp_path / "s_cut") == ["clip+part2: non-finite values in its pose"]


def test_a_file_named_as_a_part_beside_the_video_keeps_its_own_clip(shared, tmp_path):
    """Videos split by hand are often named `<video>_part2`: a cut video's parts must not take
    such a file's clip id (one would overwrite the other)."""
    cut = blacked(shared / REAL, tmp_path / "in" / "talk.mp4", (1.2, 1.6))
    (cut.parent / "talk_part2.mp4").symlink_to(shared / REAL)
    s = run_recipe(Folder(), cut.parent, tmp_path / "store", PrepOptions())
    frames = {r["id"]: r["frames"] for r in read_manifest(tmp_path / "store")}
    assert frames == {"talk": 30, "talk+part2": 41, "talk_part2": 81} and not s.errors


def test_a_face_found_only_in_short_stretches_gives_one_line(shared, tmp_path):
    video = blacked(shared / REAL, tmp_path / "in" / "flicker.mp4", (0.6, 1.2), (1.8, 2.4))
    s = run_recipe(Folder(), video.parent, tmp_path / "store", PrepOptions(max_miss=0.9))
    assert s.clips == 0 and [e["error"] for e in s.errors] == [
        f"{video}: no stretch of 1 s with the face found (it is missed for more than 5 frames at a time)"
    ]
    s = run_recipe(Folder(), video.parent, tmp_path / "store2", PrepOptions())
    assert s.errors[0]["error"] == (  # 51 of 81 frames: three stretches, the last of 0.84 s
        f"{video}: face found in only 63% of frames (more than 20% missed; --max-miss allows more)"
    )
    assert json.loads((tmp_path / "store2" / "errors.json").read_text())[0]["source"] == str(video)


def test_a_video_reference_is_read_only_where_its_face_is_found(use_chain, shared, tmp_path, monkeypatch):
    """An emotion reference's faceless frames were fitted to landmarks of zeros, and the EDE read
    the face the fit made up there with the rest."""
    import torch

    from talkface_cli.inference import animate

    read, motion_emotion = [], animate.motion_emotion
    monkeypatch.setattr(animate, "motion_emotion", lambda *a: read.append(a[2]) or motion_emotion(*a))
    anim = animate.Animator.load("emg/t", torch.device("cpu"))
    whole = anim.reference_emotion(blacked(shared / REAL, tmp_path / "whole.mp4"))
    cut = anim.reference_emotion(blacked(shared / REAL, tmp_path / "cut.mp4", (1.2, 1.6)))
    assert [len(p) for p in read] == [81, 71] and np.isfinite(read[1]).all()
    assert float(whole @ cut / np.linalg.norm(whole) / np.linalg.norm(cut)) > 0.95
