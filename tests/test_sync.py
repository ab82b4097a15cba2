"""Sync expert: the loss and the LSE statistics by hand, offsets recovered, the official SyncNet's
loading and MFCCs, and training on synthetic speech."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from talkface_cli.app import app
from talkface_cli.eval.sync import delay, offset_distances, stats_from_distances
from talkface_cli.models.sync import SyncConfig, SyncExpert, sync_bce


def test_bce_by_hand():
    prob = torch.tensor([0.9, 0.2])
    label = torch.tensor([True, False])
    expected = -(math.log(0.9) + math.log(0.8)) / 2
    assert sync_bce(prob, label).item() == pytest.approx(expected, abs=1e-6)


def test_expert_shapes_and_range():
    torch.manual_seed(0)
    m = SyncExpert(SyncConfig(content_dim=80, hidden=16, width=8, layers=2)).eval()
    p = m(torch.randn(6, 10, 80), torch.randn(6, 5, 20, 3))
    assert p.shape == (6,) and (p >= 0).all() and (p <= 1 + 1e-6).all()


def test_offset_statistics_by_hand():
    # video embeddings e_t; audio embeddings the same sequence delayed by 3: a[t] = e[t - 3]
    e = torch.nn.functional.normalize(torch.randn(40, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    a = torch.cat([torch.nn.functional.normalize(torch.ones(3, 8), dim=-1), e[:-3]])
    d = offset_distances(e, a, max_offset=5)
    assert d.shape == (11,) and d[5 + 3] == pytest.approx(0.0, abs=1e-6)
    s = stats_from_distances(d, 5)
    assert s.offset == 3 and s.lse_d == pytest.approx(0.0, abs=1e-6)
    assert s.lse_c == pytest.approx(float(np.median(d)), abs=1e-6)
    # offset 0 by hand: the mean over all 40 pairs of |e_t - a_t|
    assert d[5] == pytest.approx(float((e - a).norm(dim=-1).mean()), abs=1e-5)


def test_zero_padded_distances_follow_syncnet():
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    d = offset_distances(v, a, max_offset=1, zero_pad=True)
    # offset -1: v0 vs zero pad (1), v1 vs a0 (sqrt 2); offset 0: 0;
    # offset +1: v0 vs a1 (sqrt 2), v1 vs pad (1)
    assert d == pytest.approx([(1 + math.sqrt(2)) / 2, 0.0, (math.sqrt(2) + 1) / 2])


def test_delay():
    a = np.arange(10, dtype=np.float32)
    assert delay(a, 1, hop=3).tolist() == [0, 0, 0, 0, 1, 2, 3, 4, 5, 6]
    assert delay(a, -1, hop=3).tolist() == [3, 4, 5, 6, 7, 8, 9, 0, 0, 0]


def test_official_syncnet_loads_state_dicts_only(tmp_path):
    from talkface_cli.errors import TalkfaceError
    from talkface_cli.eval.syncnet_official import OfficialSyncNet, load_syncnet, mfcc, official_stats

    torch.manual_seed(0)
    net = OfficialSyncNet()
    path = tmp_path / "syncnet_v2.model"
    torch.save(net.state_dict(), path)
    loaded = load_syncnet(path)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in net.state_dict().items())
    torch.save({"netcnnaud.0.weight": torch.zeros(3)}, tmp_path / "bad.model")
    with pytest.raises(TalkfaceError, match="do not match"):
        load_syncnet(tmp_path / "bad.model")
    (tmp_path / "evil.model").write_bytes(b"\x80\x04cos\nsystem\n.")
    with pytest.raises(TalkfaceError, match="not a SyncNet state dict"):
        load_syncnet(tmp_path / "evil.model")
    # MFCC: python_speech_features framing (99 frames per second) and c0 = log frame energy
    x = np.sin(np.arange(16000) / 16000 * 2 * np.pi * 440) * 1000
    cc = mfcc(x)
    pre = np.append(x[0], x[1:] - 0.97 * x[:-1])
    energy = (np.abs(np.fft.rfft(pre[:400], 512)) ** 2 / 512).sum()
    assert cc.shape == (99, 13) and cc[0, 0] == pytest.approx(np.log(energy), rel=1e-5)
    frames = np.random.default_rng(0).integers(0, 255, (12, 224, 224, 3), dtype=np.uint8)
    s = official_stats(loaded, frames, np.zeros(12 * 640, np.float32), max_offset=2)
    assert s.distances.shape == (5,) and np.isfinite(s.lse_d)


def test_trained_expert_scores_true_pairs_higher(use_chain):
    from talkface_cli.registry import Registry

    _, _, metrics = use_chain
    entry = Registry().read("sync/t")
    assert entry.meta["metrics"]["sync_accuracy"] > 0.5  # above chance after 60 tiny steps
    assert {"offset_recovery", "lse_d_ground_truth", "lse_d_shifted"} <= set(metrics["sync"])
    expert = Registry().load_model("sync/t", "cpu")
    assert expert.cfg.content == "logmel-clean-hp" and expert.cfg.content_dim == 80


def test_a_store_with_nothing_held_out_says_so(tmp_path, talkface_home):
    """One speaker split by speaker: every clip trains, and the report says nothing was scored
    rather than showing an empty table."""
    from data_recipes.base import PrepOptions, run_recipe
    from data_recipes.synthetic import Synthetic

    store = tmp_path / "s"
    run_recipe(
        Synthetic(), None, store, PrepOptions(split_by="speaker", extra={"speakers": 1, "sentences": 1})
    )
    cmd = ["train-sync", "--data", str(store), "--preset", "tiny", "--name", "sync/t"]
    res = CliRunner().invoke(app, [*cmd, "--set", "train.steps=2", "--set", "train.batch_size=4"])
    assert res.exit_code == 0, res.output
    assert "note: the store has no held-out clips" in " ".join(res.output.split())


def test_hubert_features_are_named_by_weights_and_layer(tmp_path, talkface_home, monkeypatch):
    """`prep features --hubert H --layer 1` caches what `train-sync --hubert H --layer 1` reads
    (train-sync had no --layer, and computed the last layer's anew); the expert records the
    layer, the weights' fingerprint and the folder as an absolute path. The same weights in a
    moved folder keep their features; other weights saved over the folder (a fine-tune) do not
    read the old ones. A layer the HuBERT lacks, or a layer without a HuBERT, is one line."""
    from data_recipes.base import PrepOptions, run_recipe
    from data_recipes.synthetic import Synthetic
    from talkface_cli.audio.features import Hubert
    from talkface_cli.registry import Registry
    from tests.hubert_standin import make_hubert

    store = tmp_path / "s"
    run_recipe(
        Synthetic(), None, store, PrepOptions(split_by="speaker", extra={"speakers": 1, "sentences": 1})
    )
    hubert = str(make_hubert(tmp_path / "hubert", 16))
    features = ["prep", "features", str(store), "--hubert"]
    res = CliRunner().invoke(app, [*features, hubert, "--layer", "1"])
    assert res.exit_code == 0, res.output
    (cached,) = (store / "features").glob("hubert-*")
    stamps = {f: f.stat().st_mtime_ns for f in cached.glob("*.npy")}
    assert len(stamps) == 15 and json.loads((cached / "encoder.json").read_text())["layer"] == 1
    monkeypatch.chdir(tmp_path)  # a relative --hubert is recorded as the folder it names
    cmd = ["train-sync", "--data", str(store), "--preset", "tiny", "--name", "sync/h", "--hubert", "hubert"]
    res = CliRunner().invoke(
        app, [*cmd, "--layer", "1", "--set", "train.steps=2", "--set", "train.batch_size=4"]
    )
    assert res.exit_code == 0, res.output
    assert list((store / "features").glob("hubert-*")) == [cached]  # read, none computed
    assert stamps == {f: f.stat().st_mtime_ns for f in cached.glob("*.npy")}
    model = Registry().read("sync/h").config["model"]
    assert model["content_layer"] == 1 and model["content_dim"] == 16 and model["content"] == hubert
    assert model["content_weights"] == Hubert(hubert).weights and len(model["content_weights"]) == 16

    moved = str(make_hubert(tmp_path / "moved", 16))  # the same weights elsewhere
    res = CliRunner().invoke(app, [*features, moved, "--layer", "1", "--json", str(tmp_path / "m.json")])
    assert res.exit_code == 0 and json.loads((tmp_path / "m.json").read_text())["computed"] == 0
    make_hubert(tmp_path / "moved", 16, seed=1)  # other weights saved over them
    res = CliRunner().invoke(app, [*features, moved, "--layer", "1", "--json", str(tmp_path / "t.json")])
    assert res.exit_code == 0 and json.loads((tmp_path / "t.json").read_text())["computed"] == 15
    assert len(list((store / "features").glob("hubert-*"))) == 2

    res = CliRunner().invoke(app, [*features, hubert, "--layer", "2"])
    assert res.exit_code != 0 and "--layer 2: the HuBERT at" in str(res.exception)
    assert "has hidden states 0-1 (-1: the last)" in str(res.exception)
    res = CliRunner().invoke(app, [*cmd[:5], "--name", "sync/x", "--layer", "3"])
    assert res.exit_code != 0 and "--layer 3: a HuBERT hidden layer, but no --hubert" in str(res.exception)
