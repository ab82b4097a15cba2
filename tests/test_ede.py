"""EDE: each loss against hand-computed values, the model's shapes, and training on synthetic data."""

from __future__ import annotations

import math

import pytest
import torch

from talkface_cli.training.losses import audio_visual, intensity_triplet, supcon


def test_supcon_by_hand():
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    # anchors 0 and 1: positive sim 1, the other sim 0 -> -(1 - log(e + 1)); anchor 2 has no positive
    expected = -(1 - math.log(math.e + 1))
    assert supcon(z, labels, temperature=1.0).item() == pytest.approx(expected, abs=1e-6)
    # temperature 0.5 doubles the logits
    expected = -(2 - math.log(math.e**2 + 1))
    assert supcon(z, labels, temperature=0.5).item() == pytest.approx(expected, abs=1e-6)
    # two positives for one anchor: the mean of their log-probabilities
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 0, 1])
    lse = math.log(math.e + math.exp(0.6) + 1)
    anchor0 = -((1 - lse) + (0.6 - lse)) / 2
    lse2 = math.log(math.exp(0.6) * 2 + math.exp(0.8))
    anchor2 = -((0.6 - lse2) * 2) / 2
    expected = (anchor0 * 2 + anchor2) / 3
    assert supcon(z, labels, temperature=1.0).item() == pytest.approx(expected, abs=1e-6)


def test_audio_visual_by_hand():
    a = torch.tensor([[[3.0, 4.0], [1.0, 0.0]]])
    v = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    # frame 0: (0.6, 0.8) vs (0, 1) -> 0.36 + 0.04 = 0.4; frame 1: 0
    assert audio_visual(a, v).item() == pytest.approx(0.2, abs=1e-6)
    assert audio_visual(a, v, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(0.4, abs=1e-6)


def test_triplet_by_hand():
    z = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, 0.0], [0.0, 0.0]])
    emotion = torch.tensor([0, 0, 0, 1])
    intensity = torch.tensor([1, 1, 2, 1])
    # (a=0, p=1, n=2): 1 - 0.25 + 0.5 = 1.25; (a=1, p=0, n=2): the same; nothing else is a triplet
    assert intensity_triplet(z, emotion, intensity, margin=0.5).item() == pytest.approx(1.25, abs=1e-6)
    # a satisfied margin gives 0
    z = torch.tensor([[0.0, 0.0], [0.1, 0.0], [2.0, 0.0]])
    assert intensity_triplet(z, torch.tensor([0, 0, 0]), torch.tensor([1, 1, 2]), 0.5).item() == 0.0


def test_losses_have_gradients():
    z = torch.nn.functional.normalize(torch.randn(8, 4), dim=-1).requires_grad_(True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    (supcon(z, labels) + intensity_triplet(z, labels // 2, labels % 2)).backward()
    assert z.grad.abs().sum() > 0


def test_pooled_logmel_front_masks_padding():
    """The pooled front returns (B, 2T, W) for any T; noise in the masked padding of a clip moves
    its valid features far less than the same noise left unmasked."""
    from talkface_cli.models.ede import AudioEmotionEncoder, EDEConfig

    torch.manual_seed(0)
    cfg = EDEConfig(width=32, front="logmel", layers=1, heads=2, ffn=32, conv_pos=4, dropout=0.0,
                    front_layers=3, front_width=16, front_pool=2, mel_norm=True)  # fmt: skip
    enc = AudioEmotionEncoder(cfg).eval()
    t, n = 23, 23 * 640
    quiet = 0.1 * torch.randn(1, n)
    quiet[:, n // 2 :] = 0
    loud = quiet.clone()
    loud[:, n // 2 :] = 3 * torch.randn(n - n // 2)
    mask = torch.zeros(1, 2 * t)
    mask[:, :t] = 1
    with torch.no_grad():
        out = enc(torch.cat([quiet, loud]), t, mask.expand(2, -1))
        open_ = enc(torch.cat([quiet, loud]), t)
    assert out.shape == (2, 2 * t, 32) and torch.isfinite(out).all()
    masked_change = (out[0, :t] - out[1, :t]).norm() / out[0, :t].norm()
    open_change = (open_[0, :t] - open_[1, :t]).norm() / open_[0, :t].norm()
    assert masked_change < 0.5 * open_change  # only the STFT window at the boundary leaks


def test_speed_perturb_keeps_the_window():
    import numpy as np

    from talkface_cli.training.ede import speed_perturb

    torch.manual_seed(0)
    a = np.sin(np.arange(640 * 10) / 7).astype(np.float32)
    for _ in range(20):
        out, valid = speed_perturb(a, 10, 10, 0.1)
        assert out.shape == a.shape and 9 <= valid <= 10
    fast, _ = speed_perturb(a, 10, 10, 0.0)
    assert np.allclose(fast, a)


def test_tiny_front_removes_steady_noise_and_older_models_keep_theirs():
    """The tiny preset's log-mel front subtracts a steady noise floor and removes what lies below
    30 Hz; a config.json written before those options existed reads as without them, so saved
    models hear what they were trained on."""
    import numpy as np

    import talkface_cli.presets  # noqa: F401 - registers the presets
    from talkface_cli.config import from_dict, make_config, to_dict
    from talkface_cli.models.ede import AudioEmotionEncoder, EDEConfig

    cfg = make_config("ede", "tiny").model
    older = from_dict(EDEConfig, {k: v for k, v in to_dict(cfg).items() if k not in ("denoise", "highpass")})
    front, plain = AudioEmotionEncoder(cfg).logmel, AudioEmotionEncoder(older).logmel
    assert (front.denoise, front.highpass, plain.denoise, plain.highpass) == (True, True, False, False)
    rng = np.random.default_rng(0)
    t = torch.arange(32000) / 16000
    syllables = (1.2 + torch.sin(2 * np.pi * 4 * t)) * (t > 0.5)  # 4 Hz loudness swings after 0.5 s of pause
    speech = torch.from_numpy(rng.standard_normal(32000)).float() * syllables * 0.1
    hiss = torch.from_numpy(rng.standard_normal(32000)).float() * 0.003
    with torch.no_grad():
        gone = (front(speech + hiss, 100) - front(speech, 100))[:20].abs().mean()
        kept = (plain(speech + hiss, 100) - plain(speech, 100))[:20].abs().mean()
    assert gone < 0.5 * kept  # in the pause: the hiss is mostly gone


@pytest.fixture(scope="module")
def synth_store(tmp_path_factory):
    from data_recipes.base import PrepOptions, run_recipe
    from data_recipes.synthetic import Synthetic

    out = tmp_path_factory.mktemp("synth") / "store"
    run_recipe(Synthetic(), None, out, PrepOptions(split_by="speaker", extra={"speakers": 3, "sentences": 1}))
    return out


FAST = [
    "train.steps=40",
    "train.log_every=1",
    "train.batch_size=16",
    "model.image_size=32",
    "model.video_widths=[8, 16, 32, 64]",
    "model.width=64",
    "model.ffn=128",
    "window=24",
    "video_per_batch=8",
    "train.ckpt_every=20",
]


def test_train_ede_learns_and_publishes(synth_store, talkface_home):
    import json

    import numpy as np

    from talkface_cli import presets  # noqa: F401
    from talkface_cli.config import make_config
    from talkface_cli.registry import Registry
    from talkface_cli.training.ede import EDETask, train_ede

    cfg = make_config("ede", "tiny", FAST)
    metrics, entry = train_ede(cfg, [synth_store], "ede/t", device="cpu")
    rows = [json.loads(x) for x in (talkface_home / "runs/ede/t/metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r["split"] == "train"]
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])  # training lowers the loss
    assert {"report.json", "tsne.png"} <= {p.name for p in entry.path.iterdir()}
    assert entry.meta["emotions"] == sorted(
        {"neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"}
    )
    model = Registry().load_model("ede/t", "cpu")
    assert model.centroids_video.shape == (8, 64) and model.intensity_centroids_audio.shape == (15, 64)
    assert torch.allclose(model.centroids_video.norm(dim=1), torch.ones(8), atol=1e-4)
    # the trained video branch separates emotions on its training clips far above chance (1/8)
    task = EDETask(cfg, [synth_store])
    z = task.embed(model, task.train, torch.device("cpu"))["video"]
    pred = np.argmax(z @ model.centroids_video.numpy().T, 1)
    truth = [task.emotions.index(c.record["emotion"]) for c in task.train]
    assert np.mean(pred == np.array(truth)) > 0.5
    assert 0 <= metrics["video_accuracy"] <= 1 and "audio_accuracy" in metrics


def test_train_ede_starts_from_a_pretrained_hubert(synth_store, talkface_home, tmp_path, capfd):
    """`train-ede --hubert DIR` (the paper's audio branch: HuBERT, started from its weights). The
    branch takes that HuBERT's architecture, here HuBERT-large's pre-norm transformer and
    layer-normed waveform encoder (the config's sizes alone build HuBERT-base's), and its weights:
    at the start it gives the pretrained HuBERT's hidden states. Training keeps the waveform
    encoder as pretrained and moves the transformer; the EDE reloads with that architecture. The
    tiny preset's log-mel front has no waveform encoder to start from: one line. A fine-tuned
    checkpoint (with a CTC head, as HuBERT-large-ls960-ft) loads without transformers' table of
    the unused head's weights, which reads as an error."""
    from transformers import HubertModel
    from typer.testing import CliRunner

    from talkface_cli.app import app
    from talkface_cli.audio.features import Hubert
    from talkface_cli.models.ede import EDE, EDEConfig, started_from
    from talkface_cli.registry import Registry
    from tests.hubert_standin import make_hubert

    large = dict(do_stable_layer_norm=True, feat_extract_norm="layer", conv_bias=True)
    hubert = make_hubert(tmp_path / "hubert", 32, ctc=True, **large)
    pre = HubertModel.from_pretrained(hubert).eval()
    capfd.readouterr()
    found = Hubert(hubert)
    assert "lm_head" not in "".join(capfd.readouterr())
    cfg = started_from(EDEConfig(dropout=0.0), found.model, str(hubert), found.weights)
    fresh = EDE(cfg).eval()
    fresh.audio.start_from(pre)
    wave = torch.randn(1, 16320, generator=torch.Generator().manual_seed(0))  # 50 HuBERT frames
    with torch.no_grad():
        want = pre((wave - wave.mean()) / (wave.std() + 1e-7)).last_hidden_state
        assert want.shape[1] == 50 and torch.allclose(fresh.audio(wave, 25), want, atol=1e-5)

    sets = [s for k in FAST if not k.startswith("model.") for s in ("--set", k)]
    cmd = ["train-ede", "--data", str(synth_store), "--preset", "tiny", "--hubert", str(hubert)]
    res = CliRunner().invoke(app, [*cmd, "--name", "ede/h", *sets, "--set", "model.front=wave"])
    assert res.exit_code == 0, (res.output, res.exception)
    model = Registry().load_model("ede/h", "cpu")
    assert model.cfg.width == 32 and model.cfg.hubert["do_stable_layer_norm"] is True
    assert model.cfg.init == f"{hubert} ({found.weights})"
    assert type(model.audio.hubert.encoder).__name__ == "HubertEncoderStableLayerNorm"
    trained, start = model.audio.hubert.state_dict(), pre.state_dict()
    assert all(torch.equal(v, start[k]) for k, v in trained.items() if k.startswith("feature_extractor."))
    assert not torch.allclose(trained["encoder.layers.0.feed_forward.output_dense.weight"],
                              start["encoder.layers.0.feed_forward.output_dense.weight"])  # fmt: skip
    res = CliRunner().invoke(app, [*cmd, "--name", "ede/hl", *sets])
    assert res.exit_code != 0 and "this preset's is logmel (use --preset paper" in str(res.exception)


def test_train_ede_cli_wiring(synth_store):
    from typer.testing import CliRunner

    from talkface_cli.app import app

    res = CliRunner().invoke(
        app,
        ["train-ede", "--data", str(synth_store), "--name", "ede/x", "--no-triplet", "--show-config"],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0 and "w_triplet" in res.output and "│ 0 " in res.output
    res = CliRunner().invoke(
        app, ["train-ede", "--data", str(synth_store), "--name", "bad", "--preset", "tiny"]
    )
    assert res.exit_code != 0


def test_report_gives_each_store_its_own_accuracy(synth_store, shared, tmp_path):
    """Trained on synthetic and real speech, the report says how each fares, and the two figures
    add up to the pooled one."""
    import numpy as np

    from data_recipes.base import PrepOptions, run_recipe
    from data_recipes.ravdess import Ravdess
    from talkface_cli import presets  # noqa: F401
    from talkface_cli.config import make_config
    from talkface_cli.training.ede import EDETask

    root, flacs = tmp_path / "rv", shared / "data/ravdess/Audio_Speech_16k"
    for actor in ("01", "02"):
        (root / actor).mkdir(parents=True)
        for f in sorted(flacs.glob(f"Actor_{actor}/*-01-01-{actor}.flac"))[:12]:
            (root / actor / f.name).symlink_to(f)
    run_recipe(Ravdess(), root, tmp_path / "ravdess", PrepOptions(split_by="speaker", test_speakers=["02"]))
    cfg = make_config("ede", "tiny", FAST)
    torch.manual_seed(0)
    both, alone = EDETask(cfg, [synth_store, tmp_path / "ravdess"]), EDETask(cfg, [synth_store])
    report = both.report(both.build_model(), torch.device("cpu"))
    per = {k: v for k, v in report.items() if k.startswith("audio_accuracy ")}
    assert set(per) == {f"audio_accuracy {synth_store.name}", "audio_accuracy ravdess"}
    n = {s: sum(c.store == s for c in both.held) for s in (synth_store, tmp_path / "ravdess")}
    assert n[tmp_path / "ravdess"] == 12
    pooled = (
        per[f"audio_accuracy {synth_store.name}"] * n[synth_store] + per["audio_accuracy ravdess"] * 12
    ) / sum(n.values())
    assert np.isclose(pooled, report["audio_accuracy"])
    assert not any(" " in k for k in alone.report(alone.build_model(), torch.device("cpu")))  # one store
