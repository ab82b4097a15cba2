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
from talkface_cli.data.store import clip_paths, read_manifest
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
