"""`prep validate --sync`: a store's face clips checked against their sound by a trained sync
expert, as LRS's and HDTF's pipelines check theirs with SyncNet: a sound shifted by hand is found
with its offset, a voice over another face is found unclear, clips in step pass."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from talkface_cli.app import app
from talkface_cli.data.store import (
    clip_paths,
    manifest_from_sidecars,
    phonemes_from,
    read_manifest,
    realign,
    realigned,
    validate,
)
from talkface_cli.eval.store_sync import lag
from talkface_cli.eval.sync import delay
from tests.chain import SYNC_FAST, synth_store


@pytest.fixture(scope="module")
def expert(tmp_path_factory):
    """(home, store): a 3-speaker synthetic store and sync/c, trained on it for 1000 steps (6 s)."""
    import os

    from talkface_cli import presets  # noqa: F401
    from talkface_cli.config import make_config
    from talkface_cli.training.sync import train_sync

    root = tmp_path_factory.mktemp("store_sync")
    old = os.environ.get("TALKFACE_HOME")
    os.environ["TALKFACE_HOME"] = str(root / "home")
    try:
        store = synth_store(root / "store")
        cfg = make_config("sync", "tiny", [*SYNC_FAST, "train.steps=1000"])
        train_sync(cfg, [store], "sync/c", device="cpu")
    finally:
        os.environ["TALKFACE_HOME"] = old or ""
    return root / "home", store


def edit(store, clip_id: str, **arrays) -> None:
    npz = clip_paths(store, clip_id)[0]
    np.savez(npz, **(dict(np.load(npz)) | arrays))


def test_clips_off_their_sound_are_found(expert, tmp_path, monkeypatch):
    home, original = expert
    monkeypatch.setenv("TALKFACE_HOME", str(home))
    store = tmp_path / "store"
    shutil.copytree(original, store, ignore=shutil.ignore_patterns("features"))  # no cached features
    cmd = ["prep", "validate", str(store), "--sync", "sync/c", "--json", str(tmp_path / "ok.json")]
    r = CliRunner().invoke(app, cmd)
    assert r.exit_code == 0, r.output
    assert "45 face clip(s) in step with their sound (sync/c)" in " ".join(r.output.split())
    assert {row["sync"] for row in json.loads((tmp_path / "ok.json").read_text())["sync"]} == {"in step"}

    ids = [rec["id"] for rec in read_manifest(store)]
    late, early, dubbed, donor, cut = ids[5], ids[9], ids[20], ids[33], ids[40]
    for clip_id, frames in ((late, 6), (early, -4)):
        audio = np.load(clip_paths(store, clip_id)[0])["audio"]
        edit(store, clip_id, audio=delay(audio, frames))
    params, theirs = (np.load(clip_paths(store, i)[0])["params"] for i in (dubbed, donor))
    edit(store, dubbed, params=np.resize(theirs, params.shape))  # another sentence's face
    arrays = dict(np.load(clip_paths(store, cut)[0]))
    edit(store, cut, **{k: arrays[k][:30] for k in ("params", "pose")}, audio=arrays["audio"][: 30 * 640])
    manifest = store / "manifest.jsonl"
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    manifest.write_text(
        "".join(json.dumps(rec | {"frames": 30} if rec["id"] == cut else rec) + "\n" for rec in records)
    )
    shutil.rmtree(store / "features")
    r = CliRunner().invoke(app, [*cmd[:-1], str(tmp_path / "bad.json")])
    assert r.exit_code == 1, r.output
    report = json.loads((tmp_path / "bad.json").read_text())
    assert not report["problems"], report["problems"]
    rows = {row["id"]: row for row in report["sync"]}
    assert (rows[late]["sync"], rows[late]["offset"]) == ("off", 6)
    assert (rows[early]["sync"], rows[early]["offset"]) == ("off", -4)
    assert rows[dubbed]["sync"] != "in step" and rows[dubbed]["lse_c"] < rows[late]["lse_c"] / 2
    assert rows[cut]["sync"] == "too short" and rows[cut]["offset"] is None
    assert sum(row["sync"] not in ("in step", "too short") for row in rows.values()) == 3
    assert "1 face clip(s) under 36 frames: too short for a sync check" in r.output
    said = " ".join(r.output.split())  # the table's title wraps
    assert "3 of 45 face clips off their sound" in said and "the sound 240 ms late" in said


def test_fix_moves_each_sound_found_off_into_step(expert, tmp_path, monkeypatch):
    """--fix: a sound delayed 6 frames and one advanced 4 are moved back, each clip trimmed where
    face and sound no longer overlap, in the clip, its sidecar and the manifest (splits kept); their
    cached emotion goes; a voice over another face (unclear) is left as it is; a second check finds
    them in step and moves nothing."""
    home, original = expert
    monkeypatch.setenv("TALKFACE_HOME", str(home))
    store = tmp_path / "store"
    shutil.copytree(original, store, ignore=shutil.ignore_patterns("features"))
    records = {rec["id"]: rec for rec in read_manifest(store)}
    ids = list(records)
    late, early, dubbed, donor, other = ids[5], ids[9], ids[20], ids[33], ids[2]
    before = {i: dict(np.load(clip_paths(store, i)[0])) for i in (late, early)}
    for clip_id, frames in ((late, 6), (early, -4)):
        edit(store, clip_id, audio=delay(before[clip_id]["audio"], frames))
    params, theirs = (np.load(clip_paths(store, i)[0])["params"] for i in (dubbed, donor))
    edit(store, dubbed, params=np.resize(theirs, params.shape))
    dubbed_bytes = clip_paths(store, dubbed)[0].read_bytes()
    for clip_id in (late, other):  # a pooled emotion: one row whatever the clip's length
        cached = store / "features" / "emotion-0123456789abcdef" / f"{clip_id}.npy"
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.save(cached, np.ones((1, 8), np.float32))

    cmd = ["prep", "validate", str(store), "--sync", "sync/c", "--fix", "--json"]
    r = CliRunner().invoke(app, [*cmd, str(tmp_path / "fix.json")])
    assert r.exit_code == 1, r.output  # the unclear clip stays a problem
    assert "moved the sound of 2 clip(s) into step" in " ".join(r.output.split())
    fixed = {row["id"]: row for row in json.loads((tmp_path / "fix.json").read_text())["fixed"]}
    assert set(fixed) == {late, early}
    t = {i: len(before[i]["params"]) for i in (late, early)}
    cut = {late: slice(0, t[late] - 6), early: slice(4, t[early])}
    heard = {late: slice(0, (t[late] - 6) * 640), early: slice(4 * 640, t[early] * 640)}
    now = {rec["id"]: rec for rec in read_manifest(store)}
    for i, offset in ((late, 6), (early, -4)):
        arrays = np.load(clip_paths(store, i)[0])
        np.testing.assert_array_equal(arrays["params"], before[i]["params"][cut[i]])
        np.testing.assert_array_equal(arrays["pose"], before[i]["pose"][cut[i]])
        np.testing.assert_array_equal(arrays["audio"], before[i]["audio"][heard[i]])
        np.testing.assert_array_equal(arrays["shape"], before[i]["shape"])
        side = json.loads(clip_paths(store, i)[1].read_text())
        assert side["frames"] == now[i]["frames"] == fixed[i]["frames"] == t[i] - abs(offset)
        assert side["sound_shift_frames"] == now[i]["sound_shift_frames"] == offset
        assert now[i]["split"] == records[i]["split"]
    assert {i: rec["split"] for i, rec in now.items()} == {i: rec["split"] for i, rec in records.items()}
    assert clip_paths(store, dubbed)[0].read_bytes() == dubbed_bytes
    assert not (store / "features" / "emotion-0123456789abcdef" / f"{late}.npy").exists()
    assert (store / "features" / "emotion-0123456789abcdef" / f"{other}.npy").exists()

    r = CliRunner().invoke(app, [*cmd, str(tmp_path / "again.json")])
    again = json.loads((tmp_path / "again.json").read_text())
    assert not again["problems"] and again["fixed"] == []
    rows = {row["id"]: row for row in again["sync"]}
    assert rows[late]["sync"] == rows[early]["sync"] == "in step", (rows[late], rows[early])


def test_a_fix_stopped_before_the_manifest_is_taken_up_by_the_next(expert, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(expert[1], store, ignore=shutil.ignore_patterns("features"))
    first = read_manifest(store)[0]
    realign(store, first["id"], -3)  # the clip and its sidecar, not yet the manifest
    assert validate(store) == [
        f"{first['id']}: {first['frames'] - 3} parameter frames, manifest says {first['frames']}"
    ]
    records = manifest_from_sidecars(store)
    assert validate(store) == [] and records == read_manifest(store)
    assert (records[0]["frames"], records[0]["sound_shift_frames"]) == (first["frames"] - 3, -3)
    assert records[1:] == read_manifest(expert[1])[1:]


def test_fix_needs_a_sync_check(tmp_path):
    r = CliRunner().invoke(app, ["prep", "validate", str(tmp_path), "--fix"])
    assert r.exit_code == 2 and "give --sync too" in r.output


def test_realigned_cuts_face_and_sound_from_opposite_ends():
    t = 10
    arrays = {
        "params": np.arange(t)[:, None] * np.ones((1, 3)),
        "landmarks": np.arange(t)[:, None, None] * np.ones((1, 2, 3)),
        "audio": np.arange(t * 640, dtype=np.float32),
        "shape": np.arange(t, dtype=np.float32),  # a row per shape coefficient: not cut
    }
    late = realigned(arrays, 3)  # the sound 3 frames late: its first 3 frames go, the face's last 3
    assert late["params"][:, 0].tolist() == late["landmarks"][:, 0, 0].tolist() == list(range(7))
    assert late["audio"][0] == 3 * 640 and len(late["audio"]) == 7 * 640
    early = realigned(arrays, -2)
    assert early["params"][:, 0].tolist() == list(range(2, 10))
    assert early["audio"][-1] == 8 * 640 - 1 and len(early["audio"]) == 8 * 640
    assert late["shape"].tolist() == early["shape"].tolist() == list(range(t))


def test_a_cut_sounds_phoneme_onsets_move_with_it():
    said = [["_", 0.0], ["d", 0.1], ["O", 0.15], ["g", 0.3]]
    assert phonemes_from(said, 0.12) == [["d", 0.0], ["O", 0.03], ["g", 0.18]]
    assert phonemes_from(said, 0.0) == said
    arrays = {
        "params": np.zeros((10, 3)),
        "audio": np.zeros(6400, np.float32),
        "phonemes": np.array(json.dumps(said)),
    }
    assert json.loads(str(realigned(arrays, 3)["phonemes"])) == phonemes_from(said, 0.12)
    assert json.loads(str(realigned(arrays, -3)["phonemes"])) == said  # the sound's start is kept


def test_a_store_with_problems_is_not_sync_checked(expert, tmp_path, monkeypatch):
    monkeypatch.setenv("TALKFACE_HOME", str(expert[0]))
    store = tmp_path / "store"
    shutil.copytree(expert[1], store, ignore=shutil.ignore_patterns("features"))
    first = read_manifest(store)[0]["id"]
    clip_paths(store, first)[0].unlink()
    r = CliRunner().invoke(app, ["prep", "validate", str(store), "--sync", "sync/c"])
    assert r.exit_code == 1 and "no sync check by sync/c until these problems are fixed" in r.output
    assert first in r.output and not (store / "features").exists()


def test_lag_says_what_is_heard():
    assert [lag(6), lag(-4), lag(0)] == ["the sound 240 ms late", "the sound 160 ms early", "in step"]


def test_a_store_without_faces_gives_one_line(expert, tmp_path, monkeypatch, shared):
    from data_recipes.base import PrepOptions, run_recipe
    from data_recipes.folder import Folder

    monkeypatch.setenv("TALKFACE_HOME", str(expert[0]))
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    (wavs / "a.flac").symlink_to(shared / "data/ravdess/Audio_Speech_16k/Actor_01/03-01-01-01-01-01-01.flac")
    run_recipe(Folder(), wavs, tmp_path / "audio", PrepOptions())
    r = CliRunner().invoke(app, ["prep", "validate", str(tmp_path / "audio"), "--sync", "sync/c"])
    assert r.exit_code != 0
    assert (
        str(r.exception)
        == f"{tmp_path / 'audio'}: no clips with a face (audio alone), nothing for a sync check"
    )
