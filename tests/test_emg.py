"""EMG: shapes, an invertible flow prior, seeded sampling, any length; training lowers the loss;
animate / swap-emotion from the command line, deterministic, with clear errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from talkface_cli.models.emg import EMG, EMGConfig

CFG = EMGConfig(params=53, content_dim=80, emotion_dim=16, speakers=["a", "b"], hidden=16, layers=3, flows=2)


def _inputs(t: int, b: int = 2):
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(b, t, 53, generator=g),
        torch.randn(b, 2 * t, 80, generator=g),
        torch.randn(b, 2 * t, 16, generator=g),
    )


def test_shapes_and_kl():
    torch.manual_seed(0)
    m = EMG(CFG)
    params, content, emotion = _inputs(24)
    pred, kl = m(params, content, emotion, torch.tensor([0, 1]))
    assert pred.shape == (2, 24, 53) and kl.shape == (2,) and torch.isfinite(kl).all()
    g = m.conditions(content, emotion, torch.tensor([0, 1]))
    # T/4 latents, 64 condition channels; the decoder's frame-rate stage gets T
    assert all(v.shape == (2, 64, 6) for k, v in g.items() if k != "frame") and g["frame"].shape == (
        2,
        64,
        24,
    )


def test_flow_is_invertible_and_conditioned():
    torch.manual_seed(0)
    m = EMG(CFG)
    for p in m.flows.parameters():  # leave the zero initialisation so the flow is not the identity
        p.data.add_(0.1 * torch.randn_like(p))
    _, content, emotion = _inputs(16)
    g = m.conditions(content, emotion, None)
    z = torch.randn(2, 16, 4)
    u = z
    for f in m.flows:
        u, _ = f(u, g["prior"])
    assert not torch.allclose(u, z)
    assert torch.allclose(m.prior_sample(u, g), z, atol=1e-5)


def test_sampling_is_seeded_and_any_length():
    from talkface_cli.inference.generate import generate, speaker_condition

    torch.manual_seed(0)
    m = EMG(CFG).eval()
    for t in (5, 23, 40):  # not multiples of the stride
        c = np.random.default_rng(t).normal(size=(2 * t, 80)).astype(np.float32)
        e = np.ones((2 * t, 16), np.float32)
        a = generate(m, c, e, speaker_condition(m, None), t, 0.7, seed=3)
        b = generate(m, c, e, speaker_condition(m, None), t, 0.7, seed=3)
        d = generate(m, c, e, speaker_condition(m, "a"), t, 0.7, seed=4)
        assert a.shape == (t, 53) and np.array_equal(a, b) and not np.array_equal(a, d)


@pytest.mark.parametrize("frame_layers", [3, 0])
def test_long_speech_is_sampled_a_window_at_a_time_with_the_same_result(frame_layers, monkeypatch):
    """Sampled a few latent steps at a time, each with `reach` steps of its neighbours either side,
    an utterance comes out as in one pass (no window's edge shows in a long one); with half the
    context it does not."""
    from talkface_cli.inference import generate as gen

    torch.manual_seed(0)
    m = EMG(replace(CFG, frame_layers=frame_layers)).eval()
    for p in m.parameters():  # away from the zero-initialised coupling outputs, far taps weigh
        p.data.add_(0.3 * torch.randn_like(p))
    # flows: 2 x (1 + 2), decoder: 1 + 2 + 4, frame net: 1 + 2 + 4 frames = 2 latent steps
    assert gen.reach(m) == 13 + 2 * (frame_layers > 0)
    t, rng = 301, np.random.default_rng(0)  # 76 latent steps, the last part-filled
    c, e = rng.normal(size=(2 * t, 80)).astype(np.float32), rng.normal(size=(2 * t, 16)).astype(np.float32)
    spk = gen.speaker_condition(m, "b")
    whole = gen.generate(m, c, e, spk, t, 0.7, seed=1)
    assert gen.spans(76, gen.WINDOW, gen.reach(m)) == [(0, 76)]
    assert gen.spans(76, 8, gen.reach(m))[-2:] == [(64, 72), (72, 76)]
    windowed = gen.generate(m, c, e, spk, t, 0.7, seed=1, window=8)
    assert windowed.shape == (t, 53) and np.abs(windowed - whole).max() < 1e-5
    half = gen.reach(m) // 2
    monkeypatch.setattr(gen, "reach", lambda emg: half)
    assert np.abs(gen.generate(m, c, e, spk, t, 0.7, seed=1, window=8) - whole).max() > 1e-3


def test_fast_convs_match_torch():
    """The matrix-product convolutions equal PyTorch's, with gradients, and the cached weight
    layout used without gradients follows in-place weight updates."""
    from talkface_cli.models.emg import PatchConv1d, PatchConvTranspose1d, ShiftConv1d

    torch.manual_seed(0)
    cases = [  # (reference, fast, input shape); the last shift case takes nn.Conv1d's path
        (torch.nn.Conv1d(12, 20, k, dilation=d, padding=d * (k - 1) // 2), ShiftConv1d, (b, 12, n))
        for k, d, n, b in (
            (3, 1, 7, 2),
            (3, 4, 25, 1),
            (3, 8, 5, 2),
            (1, 1, 9, 1),
            (1, 1, 9, 3),
            (3, 2, 3000, 2),
        )
    ]
    cases += [(torch.nn.Conv1d(12, 20, 8, stride=8), PatchConv1d, (2, 12, 43)),
              (torch.nn.Conv1d(12, 20, 2, stride=2), PatchConv1d, (1, 12, 16)),
              (torch.nn.ConvTranspose1d(12, 20, 4, stride=4), PatchConvTranspose1d, (2, 12, 9))]  # fmt: skip
    for ref, kind, shape in cases:
        fast = kind(ref.in_channels, ref.out_channels, ref.kernel_size, stride=ref.stride,
                    padding=ref.padding, dilation=ref.dilation)  # fmt: skip
        fast.load_state_dict(ref.state_dict())
        x = torch.randn(shape, requires_grad=True)
        y = fast(x)
        assert y.shape == ref(x).shape and torch.allclose(y, ref(x), atol=1e-5)
        (gx,) = torch.autograd.grad(y.sum(), x)
        (gr,) = torch.autograd.grad(ref(x).sum(), x)
        assert torch.allclose(gx, gr, atol=1e-5)
        with torch.no_grad():
            fast(x)  # caches the weight layout
            fast.weight.mul_(-2.0)
            ref.weight.mul_(-2.0)
            assert torch.allclose(fast(x), ref(x), atol=1e-4)


@pytest.mark.parametrize(
    "cfg",
    [CFG, EMGConfig(params=53, content_dim=80, emotion_dim=16, speakers=["a", "b"], hidden=16, layers=6,
                    flows=3, frame_layers=0, speaker_conditioning=False)],
)  # fmt: skip
def test_fast_sampler_matches_the_model(cfg):
    """animate's time-major sampler gives EMG.sample's output for one sequence: lengths where every
    dilation fits, where the widest reach past the ends, and one latent step; a speaker id and an
    unseen speaker; and it follows in-place weight updates (a training step between validations)."""
    from talkface_cli.models.emg_fast import base_noise, fast_sample

    torch.manual_seed(0)
    m = EMG(cfg).eval()
    for p in m.parameters():  # away from the zero-initialised coupling outputs
        p.data.add_(0.05 * torch.randn_like(p))
    for t in (4, 12, 64, 200):
        _, content, emotion = _inputs(t, 1)
        for spk in (torch.tensor([1]), torch.full((1, 2), 0.5)):
            ref = m.sample(content, emotion, spk, 0.8, torch.Generator().manual_seed(t))[0]
            with torch.inference_mode():
                z = base_noise(m, t // cfg.stride, 0.8, torch.Generator().manual_seed(t))
                fast = fast_sample(m, content[0], emotion[0], spk, z)
            assert fast.shape == (t, 53) and torch.allclose(fast, ref, atol=1e-5), t
    with torch.no_grad():
        m.dec_out.bias.add_(1.0)
    with torch.inference_mode():
        moved = fast_sample(m, content[0], emotion[0], spk, z)
    assert torch.allclose(moved, ref + 1.0, atol=1e-5)


def test_speaker_ids():
    from talkface_cli.errors import TalkfaceError
    from talkface_cli.inference.generate import speaker_condition, speaker_name

    names = ["01", "02", "s3", "M007", "W007"]
    m = EMG(EMGConfig(speakers=names, hidden=8, layers=1, flows=1, emotion_dim=4))
    assert [speaker_name(m, i) for i in ("2", "03", "s3", "W007", None)] == ["02", "s3", "s3", "W007", None]
    assert speaker_condition(m, "2").tolist() == [1] and speaker_condition(m, "s3").tolist() == [2]
    assert speaker_condition(m, "3").tolist() == [2] and speaker_condition(m, "03").tolist() == [2]
    assert speaker_condition(m, "W007").tolist() == [4]
    assert torch.allclose(speaker_condition(m, None), torch.full((1, 5), 1 / 5))
    with pytest.raises(TalkfaceError, match="not a training speaker"):
        speaker_condition(m, "9")
    with pytest.raises(TalkfaceError, match="several training speakers answer to it .M007, W007"):
        speaker_condition(m, "7")
    assert [speaker_name(m, i) for i in ("S03", "m7", "w_07", "S 3")] == ["s3", "M007", "W007", "s3"]
    with pytest.raises(TalkfaceError, match="not a training speaker"):
        speaker_condition(m, "x3")


def test_emotion_track_blends(monkeypatch):
    from talkface_cli.inference import emotion
    from talkface_cli.inference.emotion import emotion_track

    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert np.allclose(emotion_track([a], 3), np.tile(a, (6, 1)))
    tr = emotion_track([a, b], 10)  # (20, 2): a in the first quarter, b in the last, a cross-fade between
    assert np.allclose(tr[0], a) and np.allclose(tr[-1], b) and np.allclose(np.linalg.norm(tr, axis=1), 1)
    assert 0 < tr[10, 1] < 1 and tr.dtype == np.float32
    monkeypatch.setattr(emotion, "TRACK_BLOCK", 7)  # blended a few rows at a time: the same track
    assert np.array_equal(emotion_track([a, b], 10), tr)


def test_the_emotions_read_from_long_speech_are_summed_up():
    from talkface_cli.inference.animate import chunk_names

    assert chunk_names(["sad", "sad", "happy"]) == "sad -> happy"
    flicker = ["fearful", "sad"] * 3 + ["fearful"] * 4
    assert chunk_names(flicker) == "fearful 7/10, sad 3/10"


def test_a_long_clip_goes_through_the_video_branch_in_passes(monkeypatch):
    """`eval` of an HDTF clip or a reference video of minutes ran the EDE video branch over every
    frame at once (3 GB a minute at the paper's size). Now in passes of at most CHUNK frames plus
    the 2 each side the stem's 5-frame kernel reaches, giving the one-pass embedding."""
    from talkface_cli.data.renders import render_params
    from talkface_cli.face.load import load_face_model
    from talkface_cli.inference import emotion
    from talkface_cli.models.ede import EDE, EDEConfig

    torch.manual_seed(0)
    small = dict(width=32, layers=1, heads=2, ffn=64, front="logmel", image_size=32, video_stride=2)
    ede = EDE(EDEConfig(**small, video_widths=(8, 8, 16, 16))).eval()
    face = load_face_model("ict")
    params = np.random.default_rng(0).normal(0, 0.3, (1100, face.dim)).astype(np.float32)
    passes = []
    whole_pass = ede.video.frame_features
    monkeypatch.setattr(ede.video, "frame_features", lambda x: passes.append(x.shape[1]) or whole_pass(x))
    got = emotion.motion_emotion(ede, face, params)
    assert passes == [252, 254, 52]  # 550 strided frames
    frames = render_params(face, params, None, 32)[::2]
    with torch.no_grad():
        want = EDE.clip_embedding(whole_pass(torch.from_numpy(frames).float().div(255)[None, :, None]))[0]
    assert np.allclose(got, want.numpy(), atol=1e-5)


def test_silent_stretches_take_the_emotion_of_the_speech(use_chain, shared):
    """Long speech is read in 10 s chunks; a chunk that is (nearly) all pause would bring the
    emotion the EDE hears in silence, so it takes its nearest neighbour's with speech."""
    from talkface_cli.audio.io import load_audio
    from talkface_cli.inference.emotion import borrowed, speech_emotion, speech_share
    from talkface_cli.registry import Registry

    e = np.eye(4)
    assert np.array_equal(borrowed(e, np.array([0.0, 0.5, 0.05, 0.3])), e[[1, 1, 1, 3]])  # ties: earlier
    assert np.array_equal(borrowed(e, np.zeros(4)), e)  # no speech anywhere: left as read
    ede = Registry().load_model("ede/t", "cpu")
    speech = load_audio(next(shared.glob("data/ravdess/Audio_Speech_16k/Actor_03/*-05-02-*.flac")))
    hiss = np.random.default_rng(0).normal(0, 1e-4, 12 * 16000).astype(np.float32)
    padded = np.concatenate([hiss, speech, hiss])  # 3 chunks: pause, speech, pause
    bounds = np.linspace(0, round(len(padded) / 640), 4).round().astype(int)
    share = speech_share(padded, bounds)
    assert share[1] > 0.2 and share[0] == share[2] == 0
    embs = speech_emotion(ede, padded)
    assert embs.shape[0] == 3 and np.array_equal(embs[0], embs[1]) and np.array_equal(embs[2], embs[1])
    assert not np.allclose(speech_emotion(ede, hiss[:16000]), embs[1], atol=1e-3)  # pauses read otherwise


def test_training_lowers_the_loss(use_chain):
    home, _, metrics = use_chain
    rows = [json.loads(x) for x in (home / "runs/emg/t/metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r["split"] == "train"]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    last = [r for r in rows if r["split"] == "train"][-1]
    assert {"recon", "kl", "sync", "emotion"} <= set(last)
    assert metrics["emg"]["lve_mm"] > 0 and metrics["emg"]["lve_mean_face_mm"] > 0


def test_an_ede_that_never_saw_a_face_is_refused_for_the_emotion_loss(use_chain, shared):
    """An EDE trained on speech alone has no video centroids: the emotion loss (eq. 11) and the
    eval's reading of the motion would compare untrained features. Refused in one line, before
    the store is read (with --no-emotion the EMG may still use it for its conditions); eval reads
    no emotion from the motion, and a video emotion reference is refused."""
    from talkface_cli.config import make_config
    from talkface_cli.errors import TalkfaceError
    from talkface_cli.eval.run import evaluate
    from talkface_cli.inference.animate import Animator
    from talkface_cli.registry import Registry
    from talkface_cli.training.emg import EMGTask
    from tests.chain import EMG_FAST

    reg = Registry()
    entry = reg.read("ede/t")
    state = {k: v.clone() for k, v in reg.load_model("ede/t", "cpu").state_dict().items()}
    state["centroids_video"].zero_()
    state["intensity_centroids_video"].zero_()
    reg.save("ede/speech-only", state, config=entry.config, meta={"metrics": {}})
    _, store, _ = use_chain
    emg = reg.read("emg/t")  # an EMG with it (as --no-emotion would make): eval reads no emotion
    meta = {**emg.meta, "ede": "ede/speech-only", "parents": ["ede/speech-only", "sync/t"]}
    reg.save("emg/speech-only", reg.load_state("emg/t"), config=emg.config, meta=meta)
    try:
        with pytest.raises(TalkfaceError, match="^ede/speech-only: its video branch never saw a face"):
            EMGTask(make_config("emg", "tiny", EMG_FAST), [store], "ede/speech-only", "sync/t")
        report = evaluate(["emg/speech-only"], [store], "test", torch.device("cpu"), limit=1)
        row = report["table"]["emg/speech-only"]
        assert np.isnan(row["emotion_acc"]) and row["lve"] > 0
        anim = Animator.load("emg/speech-only", torch.device("cpu"))
        with pytest.raises(TalkfaceError, match="02-05.mp4: this model's EDE never saw a face"):
            anim.reference_emotion(shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4")
    finally:  # the chain's registry is shared by the other tests
        reg.remove("emg/speech-only")
        reg.remove("ede/speech-only")


def test_the_speech_emotion_of_the_training_clips_is_read_once_per_store_and_ede(use_chain, monkeypatch):
    """train-emg keeps what the EDE reads from each clip's speech in the store's cache, under the
    EDE's weights: a second run on the same store and EDE (an ablation, a resumed run) reads no
    speech, and gets the very values the EDE gives."""
    import talkface_cli.training.emg as emg_training
    from talkface_cli import presets  # noqa: F401
    from talkface_cli.config import make_config
    from talkface_cli.data.datasets import load_clips
    from talkface_cli.inference.emotion import pooled, speech_emotion
    from talkface_cli.registry import Registry
    from tests.chain import EMG_FAST

    _, store, _ = use_chain
    reg = Registry()
    ede = reg.load_model("ede/t")
    folder = store / "features" / f"emotion-{reg.read('ede/t').meta['model_sha256'][:16]}"
    clips = load_clips([store], None, need_face=True)
    assert sorted(p.stem for p in folder.glob("*.npy")) == sorted(c.id for c in clips)
    for c in clips[:3]:
        assert np.array_equal(np.load(folder / f"{c.id}.npy")[0], pooled(speech_emotion(ede, c.audio)))

    def refuse(*a, **k):
        raise AssertionError("speech read again")

    monkeypatch.setattr(emg_training, "speech_emotion", refuse)
    task = emg_training.EMGTask(make_config("emg", "tiny", EMG_FAST), [store], "ede/t", "sync/t")
    key = f"{clips[0].store}:{clips[0].id}"
    assert np.array_equal(task.emotion[key].numpy(), np.load(folder / f"{clips[0].id}.npy")[0])


def test_emotion_labels_as_users_type_them():
    from talkface_cli.errors import TalkfaceError
    from talkface_cli.inference.emotion import emotion_name

    ravdess = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
    typed = {"happy": "happy", "Happy": "happy", " SAD ": "sad", "fear": "fearful", "surprise": "surprised",
             "disgusted": "disgust", "anger": "angry", "Happiness": "happy", "joy": None,
             "sa": None}  # fmt: skip
    for label, want in typed.items():
        if want is None:
            with pytest.raises(TalkfaceError, match=f"--emotion {label}: not in this EDE's emotions"):
                emotion_name(label, ravdess)
        else:
            assert emotion_name(label, ravdess) == want, label
    with pytest.raises(TalkfaceError):  # ambiguous: both begin with "exc"
        emotion_name("exc", ["excited", "exceptional"])
    assert emotion_name("sur", ["surprised", "surly"]) == "surprised"  # IEMOCAP's code for it


def test_video_references_in_older_and_camera_containers_are_read_by_their_picture(
    use_chain, shared, tmp_path
):
    """GRID's videos are MPEG-1 .mpg, a camcorder's AVCHD .mts, CREMA-D's Flash .flv, a broadcast
    camera's MXF, a DVD's .vob, Ogg's .ogv, a DV camcorder's raw .dv (as dvgrab and capture tools
    write it): as emotion references they are videos, tracked and read by the EDE video branch as
    the .mp4 they were made from is, not by their sound."""
    from talkface_cli.audio.io import ffmpeg_exe, load_audio
    from talkface_cli.inference.animate import Animator
    from talkface_cli.inference.emotion import pooled, speech_emotion

    real = shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"
    anim = Animator.load("emg/t", torch.device("cpu"))
    picture = anim.reference_emotion(real)
    sound = pooled(speech_emotion(anim.ede, load_audio(real)))
    cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    assert cos(picture, sound) < 0.9  # the EDE reads this clip's picture and sound apart
    for name, codecs in [
        ("grid.mpg", ["-c:v", "mpeg1video", "-c:a", "mp2"]),
        ("camcorder.mts", ["-c:v", "libx264", "-c:a", "aac", "-f", "mpegts"]),
        ("crema.flv", ["-c:v", "flv1", "-c:a", "mp3"]),
        ("xdcam.mxf", ["-c:v", "mpeg2video", "-b:v", "20M", "-c:a", "pcm_s24le", "-ar", "48000"]),
        ("dvd.vob", ["-target", "ntsc-dvd"]),
        ("web.ogv", ["-c:v", "libtheora", "-q:v", "7", "-c:a", "libvorbis"]),
        ("dvgrab.dv", ["-t", "3", "-s", "720x576", "-r", "25", "-pix_fmt", "yuv420p", "-ar", "48000"]),
    ]:
        subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-i", str(real), *codecs, str(tmp_path / name)], check=True
        )
        assert cos(anim.reference_emotion(tmp_path / name), picture) > 0.99, name


def test_nearest_emotion_reads_each_centroid_as_its_own(use_chain):
    from talkface_cli.inference.emotion import nearest_emotion
    from talkface_cli.registry import Registry

    ede = Registry().load_model("ede/t", "cpu")
    for modality in ("audio", "video"):
        c = getattr(ede, f"centroids_{modality}").numpy()
        got = [nearest_emotion(ede, c[i] * 2, modality) for i in range(len(c))]
        assert got == list(ede.cfg.emotions)


def test_an_ede_without_centroids_is_one_line_and_the_benchmarks_models_animate(tmp_path, monkeypatch):
    """`make bench` animates with seeded untrained models: its EDE had no centroids, so naming the
    emotion read from the speech failed with a numpy traceback (since session 21's reading rule)."""
    from bench.batch_bench import registry_with_untrained
    from talkface_cli.audio.io import write_wav
    from talkface_cli.config import make_config
    from talkface_cli.errors import TalkfaceError
    from talkface_cli.inference.emotion import nearest_emotion
    from talkface_cli.models.ede import EDE

    ede = EDE(make_config("ede", "tiny").model)  # as built, before training saves its centroids
    with pytest.raises(TalkfaceError, match="no audio emotion centroids"):
        nearest_emotion(ede, np.ones(ede.cfg.width, np.float32))
    registry_with_untrained(tmp_path / "home")
    monkeypatch.setenv("TALKFACE_HOME", str(tmp_path / "home"))
    write_wav(tmp_path / "s.wav", (0.1 * np.random.default_rng(0).normal(size=16000)).astype(np.float32))
    res = _run("animate", tmp_path / "s.wav", "--out", tmp_path / "s.npz")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "s.npz").is_file()


def test_label_intensity_interpolates(use_chain):
    from talkface_cli.inference.emotion import label_emotion
    from talkface_cli.registry import Registry

    ede = Registry().load_model("ede/t", "cpu")
    neutral = ede.centroids_audio[ede.cfg.emotions.index("neutral")].numpy()
    assert np.allclose(label_emotion(ede, "angry", 0.0), neutral / np.linalg.norm(neutral), atol=1e-5)
    assert not np.allclose(label_emotion(ede, "angry", 1.0), label_emotion(ede, "angry", 0.0))


def _run(*args):
    from talkface_cli.app import app

    return CliRunner().invoke(app, list(map(str, args)), env={"COLUMNS": "200"})


def test_animate_and_swap_cli(use_chain, tmp_path, shared):
    from talkface_cli.audio.io import ffmpeg_exe
    from talkface_cli.face.sequence import load_sequence
    from talkface_cli.registry import Registry

    _, store, _ = use_chain
    wav = next(shared.glob("data/ravdess/Audio_Speech_16k/Actor_01/*.flac"))
    a = _run("animate", wav, "--out", tmp_path / "a.npz", "--seed", 1, "--json", tmp_path / "a.json")
    assert a.exit_code == 0, a.output
    assert _run("animate", wav, "--out", tmp_path / "b.npz", "--seed", 1).exit_code == 0
    sa, sb = load_sequence(tmp_path / "a.npz"), load_sequence(tmp_path / "b.npz")
    assert np.array_equal(sa.params, sb.params)  # one seed, one result
    assert abs(sa.num_frames - round(len(sa.audio) / 640)) <= 1
    info = json.loads((tmp_path / "a.json").read_text())[0]
    assert info["peak memory MiB"] > 0 and info["frames"] == sa.num_frames
    emotions = Registry().load_model("ede/t", "cpu").cfg.emotions
    read, how = info["emotion"].rsplit(" (", 1)  # the summary says which emotion drove the face
    assert how == "read from the speech)" and all(n in emotions for n in read.split(" -> "))
    lab = _run(
        "animate",
        wav,
        "--out",
        tmp_path / "c.npz",
        "--emotion",
        "angry",
        "--intensity",
        "0.8",
        "--speaker",
        "s00",
        "--json",
        tmp_path / "c.json",
    )
    assert lab.exit_code == 0, lab.output
    assert json.loads((tmp_path / "c.json").read_text())[0]["emotion"] == "angry x0.8"
    assert not np.array_equal(load_sequence(tmp_path / "c.npz").params, sa.params)
    other = next(shared.glob("data/ravdess/Audio_Speech_16k/Actor_02/*-05-02-*.flac"))
    sw = _run(
        "swap-emotion", wav, other, wav, "--out", tmp_path / "s.npz", "--render", tmp_path / "s.mp4",
        "--json", tmp_path / "s.json",
    )  # fmt: skip
    assert sw.exit_code == 0, sw.output
    parts = json.loads((tmp_path / "s.json").read_text())[0]["emotion"].split(" -> ")
    assert [p.split(" ")[1] for p in parts] == [f"({other.name})", f"({wav.name})"]
    # an audio-only video file (a voice recorder's .mkv, lossless here) is read as speech
    sf.write(tmp_path / "o.wav", sf.read(other)[0], 16000)
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(other), "-c:a", "pcm_s16le", str(tmp_path / "o.mkv")]
    )
    for ref in ("o.wav", "o.mkv"):
        assert _run("swap-emotion", wav, tmp_path / ref, "--out", tmp_path / f"{ref}.npz").exit_code == 0
    assert np.array_equal(*(load_sequence(tmp_path / f"o.{x}.npz").params for x in ("wav", "mkv")))
    assert (
        load_sequence(tmp_path / "s.npz").num_frames == sa.num_frames
        and (tmp_path / "s.mp4").stat().st_size > 0
    )


def test_unnamed_outputs_take_the_speechs_name_in_this_folder(use_chain, tmp_path, monkeypatch, shared):
    from talkface_cli.face.sequence import load_sequence

    wavs = sorted(shared.glob("data/ravdess/Audio_Speech_16k/Actor_01/*.flac"))
    (tmp_path / "speech.flac").write_bytes(wavs[0].read_bytes())
    monkeypatch.chdir(tmp_path)
    first = _run("animate", "speech.flac", "--speaker", "2")  # the mission's typical use, as typed
    assert first.exit_code == 0 and "to see it: talkface render speech.npz" in first.output, first.output
    kept = (tmp_path / "speech.npz").read_bytes()
    again = _run("animate", "speech.flac", "--emotion", "happy")  # a second run keeps the first
    assert again.exit_code == 0 and "speech-2.npz" in again.output, again.output
    assert (tmp_path / "speech.npz").read_bytes() == kept
    assert not np.array_equal(*(load_sequence(tmp_path / n).params for n in ("speech.npz", "speech-2.npz")))
    swap = _run("swap-emotion", "speech.flac", wavs[-1])
    assert swap.exit_code == 0 and load_sequence(tmp_path / "speech-swap.npz").num_frames > 0
    for args in (["animate", "speech.flac", "--speaker", "2"], ["swap-emotion", "speech.flac", wavs[-1]]):
        same = _run(*args)  # the very same work again: its output is found and kept, not copied
        assert same.exit_code == 0 and "kept: made before from the same inputs" in same.output, same.output
    assert (tmp_path / "speech.npz").read_bytes() == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "speech-2.npz", "speech-swap.npz", "speech.flac", "speech.npz",
    ]  # fmt: skip


def test_several_speech_files_are_animated_in_one_run_into_a_folder(use_chain, tmp_path, monkeypatch, shared):
    from talkface_cli.face.sequence import load_sequence

    wavs = sorted(shared.glob("data/ravdess/Audio_Speech_16k/Actor_01/*.flac"))[:2]
    (tmp_path / "broken.wav").write_text("not audio")
    (tmp_path / "other").mkdir()  # another take under the first one's name
    twin = tmp_path / "other" / wavs[0].name
    twin.write_bytes(wavs[1].read_bytes())
    monkeypatch.chdir(tmp_path)
    for wav, name in zip(wavs, ("a.npz", "b.npz")):  # each alone, for comparison
        assert _run("animate", wav, "--out", name, "--speaker", "2").exit_code == 0
    several = [wavs[0], "broken.wav", wavs[1], twin, wavs[0]]  # the last: the same work as the first
    res = _run("animate", *several, "--speaker", "2", "--out", "faces", "--json", "out.json")
    assert res.exit_code == 1, res.output  # one input failed: said, the others written
    assert "error: broken.wav: not a readable audio file" in res.stderr
    assert str(res.exception).startswith("1 of 5 inputs failed")
    first, second, again = (
        f"faces/{wavs[0].stem}.npz",
        f"faces/{wavs[1].stem}.npz",
        f"faces/{wavs[0].stem}-2.npz",
    )
    rows = json.loads((tmp_path / "out.json").read_text())
    assert [r["out"] for r in rows] == [first, second, again, first]
    assert [r.get("kept") for r in rows] == [None, None, None, "out"]
    for alone, made in (("a.npz", first), ("b.npz", second), ("b.npz", again)):  # no state carried over
        np.testing.assert_array_equal(load_sequence(made).params, load_sequence(alone).params)
    assert sorted(p.name for p in (tmp_path / "faces").iterdir()) == sorted(
        Path(r["out"]).name for r in rows[:3]
    )
    assert f"to see them: talkface render {first} {second} {again}" in res.output
    assert _run("animate", wavs[0], "--out", "one", "--speaker", "2").exit_code == 0  # no suffix: a folder
    np.testing.assert_array_equal(
        load_sequence(f"one/{wavs[0].stem}.npz").params, load_sequence("a.npz").params
    )
    res = _run("animate", "broken.wav", "broken.wav", "--out", "faces")
    assert res.exit_code == 1 and str(res.exception) == "all 2 inputs failed (each said why above)"
    res = _run("animate", *wavs, "--out", "c.npz")  # two files cannot share one name
    assert res.exit_code == 1 and "give --out a folder" in str(res.exception)
    assert not (tmp_path / "c.npz").exists()


def test_a_folder_of_speech_is_animated_file_by_file(use_chain, tmp_path, monkeypatch, shared):
    """`animate takes`: the speech and video files in it at any depth, as if each were named, not
    its notes or a copy's AppleDouble files, nor the sound in its output folder; a folder without
    speech is a one-line error."""
    from talkface_cli.face.sequence import load_sequence

    wavs = sorted(shared.glob("data/ravdess/Audio_Speech_16k/Actor_01/*.flac"))[:2]
    takes = tmp_path / "takes"
    (takes / "day2").mkdir(parents=True)
    (takes / "faces").mkdir()
    (takes / "a.flac").write_bytes(wavs[0].read_bytes())
    (takes / "day2" / "b.flac").write_bytes(wavs[1].read_bytes())
    (takes / "faces" / "old.flac").write_bytes(wavs[1].read_bytes())
    (takes / "._a.flac").write_bytes(b"\x00\x05\x16\x07")  # macOS's copy of a.flac's metadata
    (takes / "notes.txt").write_text("two takes")
    monkeypatch.chdir(tmp_path)
    res = _run("animate", "takes", "--out", "takes/faces", "--speaker", "2", "--json", "out.json")
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "out.json").read_text())
    assert [(r["speech"], r["out"]) for r in rows] == [
        ("takes/a.flac", "takes/faces/a.npz"),
        ("takes/day2/b.flac", "takes/faces/day2/b.npz"),
    ]
    assert _run("animate", wavs[1], "--out", "alone.npz", "--speaker", "2").exit_code == 0
    np.testing.assert_array_equal(
        load_sequence("takes/faces/day2/b.npz").params, load_sequence("alone.npz").params
    )
    (tmp_path / "silent").mkdir()
    (tmp_path / "silent" / "notes.txt").write_text("nothing said")
    res = _run("animate", "silent")
    assert res.exit_code == 1 and str(res.exception).startswith(
        "silent: a folder with no speech or video files in it"
    )


def test_renders_beside_the_speech_are_not_speech_on_a_rerun(use_chain, tmp_path, monkeypatch, shared):
    """`animate takes --render takes` run again keeps what it made: its MP4s beside the speech are
    passed over with a note (they were animated as new speech, as a-2.mp4, a-2-2.mp4, ... on each
    run), while a video another tool made is still taken; a folder of renders alone is an error."""
    from talkface_cli.audio.io import ffmpeg_exe

    flac = sorted(shared.glob("data/ravdess/Audio_Speech_16k/Actor_01/*.flac"))[0]
    takes = tmp_path / "takes"
    takes.mkdir()
    (takes / "a.flac").write_bytes(flac.read_bytes())
    made = [ffmpeg_exe(), "-v", "error", "-i", str(flac), "-metadata", "description=my holiday"]
    subprocess.run([*made, "-c:a", "aac", str(takes / "phone.mp4")], check=True)
    monkeypatch.chdir(tmp_path)
    args = ("animate", "takes", "--render", "takes", "--out", "faces", "--speaker", "2", "--json")
    first = _run(*args, "1.json")
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in takes.iterdir()) == ["a.flac", "a.mp4", "phone-2.mp4", "phone.mp4"]
    again = _run(*args, "2.json")
    assert again.exit_code == 0, again.output
    rows = json.loads((tmp_path / "2.json").read_text())
    assert [(r["speech"], r["kept"]) for r in rows] == [
        ("takes/a.flac", "out, mp4"),
        ("takes/phone.mp4", "out, mp4"),
    ]
    assert "takes: passed over 2 file(s) talkface made (a.mp4, phone-2.mp4)" in " ".join(again.output.split())
    assert sorted(p.name for p in takes.iterdir()) == ["a.flac", "a.mp4", "phone-2.mp4", "phone.mp4"]
    (tmp_path / "only").mkdir()
    shutil.copy(takes / "a.mp4", tmp_path / "only")
    res = _run("animate", "only")
    assert res.exit_code == 1 and str(res.exception) == (
        "only: a folder whose speech or video files talkface made (a.mp4); give one by name"
    )


def test_a_broken_model_is_named_not_passed_over_in_silence(chain, tmp_path, monkeypatch, shared):
    """Without --model, animate takes the newest emg entry that reads: one whose weights a copy cut
    short is said, as the reason when it is the only one and as a note beside a good one (it was
    "no emg model in the registry" and a silent pass)."""
    home = tmp_path / "home"
    shutil.copytree(chain[0] / "models", home / "models")
    monkeypatch.setenv("TALKFACE_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    good = home / "models" / "emg" / "t"
    weights = good / "model.safetensors"
    shutil.copytree(good, home / "models" / "emg" / "u")
    cut = home / "models" / "emg" / "u" / "model.safetensors"
    cut.write_bytes(weights.read_bytes()[:5000])
    wav = next(shared.glob("data/ravdess/Audio_Speech_16k/Actor_01/*.flac"))
    res = _run("animate", wav, "--out", "a.npz")
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())
    assert f"note: passed over for the default model: {cut}: truncated or corrupt (5000 bytes" in said
    shutil.rmtree(good)
    res = _run("animate", wav, "--out", "b.npz")
    assert res.exit_code == 1 and not (tmp_path / "b.npz").exists()
    assert str(res.exception).startswith(f"no emg model in the registry at {home} reads: {cut}: truncated")


def test_a_batch_run_again_keeps_what_was_made_and_makes_the_rest(use_chain, tmp_path, monkeypatch, shared):
    """As after a stop: the second input's MP4 was being rendered, the third not begun. The same
    command again makes just what is missing, as the uninterrupted run made it, and copies nothing."""
    from talkface_cli.render.video import probe

    wavs = sorted(shared.glob("data/ravdess/Audio_Speech_16k/Actor_01/*.flac"))[:3]
    monkeypatch.chdir(tmp_path)
    args = ["animate", *wavs, "--speaker", "2", "--out", "faces", "--render", "videos", "--json", "r.json"]
    assert _run(*args).exit_code == 0
    made = {p.relative_to(tmp_path): p.read_bytes() for p in sorted(tmp_path.glob("faces/*.npz"))}
    frames = {p.name: probe(p)["frames"] for p in (tmp_path / "videos").iterdir()}
    assert len(made) == len(frames) == 3
    for gone in (f"videos/{wavs[1].stem}.mp4", f"videos/{wavs[2].stem}.mp4", f"faces/{wavs[2].stem}.npz"):
        (tmp_path / gone).unlink()
    again = _run(*args)
    assert again.exit_code == 0 and "kept: made before from the same inputs" in again.output, again.output
    assert [r.get("kept") for r in json.loads(Path("r.json").read_text())] == ["out, mp4", "out", None]
    assert {p.relative_to(tmp_path): p.read_bytes() for p in sorted(tmp_path.glob("faces/*.npz"))} == made
    assert {p.name: probe(p)["frames"] for p in (tmp_path / "videos").iterdir()} == frames
    same = _run("animate", wavs[0], "--speaker", "s02", "--out", "faces")  # "2" named in full: the same
    assert same.exit_code == 0 and "kept: made before" in same.output, same.output
    bad = _run("animate", *wavs, "--speaker", "9", "--out", "faces")  # refused once, before any speech
    assert bad.exit_code == 1 and str(bad.exception).startswith("--speaker 9: not a training speaker")
    assert "error:" not in bad.stderr  # no line per input
    other = _run("animate", wavs[0], "--speaker", "2", "--seed", "1", "--out", "faces")  # other work
    assert other.exit_code == 0 and (tmp_path / "faces" / f"{wavs[0].stem}-2.npz").is_file()
    render = _run("render", f"faces/{wavs[0].stem}.npz", "--out", "videos")  # the MP4 animate made
    assert render.exit_code == 0 and len(list((tmp_path / "videos").iterdir())) == 3, render.output


def test_json_dash_puts_the_json_alone_on_stdout(use_chain, tmp_path, monkeypatch, shared):
    wav = next(shared.glob("data/ravdess/Audio_Speech_16k/Actor_01/*.flac"))
    monkeypatch.chdir(tmp_path)
    anim = _run("animate", wav, "--out", "a.npz", "--json", "-")
    assert anim.exit_code == 0 and json.loads(anim.stdout)[0]["out"] == "a.npz"  # for `| jq`
    assert "to see it: talkface render a.npz" in anim.stderr  # hints and notes move to stderr
    rend = _run("render", "a.npz", "--size", "32", "--json", "-")
    assert rend.exit_code == 0 and json.loads(rend.stdout)[0]["out"] == "a.mp4"
    listed = _run("models", "list", "--json", "-")
    assert {m["name"] for m in json.loads(listed.stdout)} == {"ede/t", "sync/t", "emg/t"}
    table = _run("models", "list")  # the next command prints to stdout again
    assert "emg/t" in table.stdout and table.stderr == ""


def test_animate_says_when_speech_is_far_from_the_emotion_models_level(use_chain, tmp_path):
    from talkface_cli.audio.io import write_wav
    from talkface_cli.data.store import load_clip, read_manifest
    from talkface_cli.registry import Registry

    _, store, _ = use_chain
    lo, hi = Registry().read("ede/t").meta["speech_level_dbfs"]  # its training speech, 5-95%
    assert -40 < lo < hi < 0
    rec = next(r for r in read_manifest(store) if r["split"] == "test")
    speech = load_clip(store, rec["id"])["audio"]
    write_wav(tmp_path / "usual.wav", speech)
    write_wav(tmp_path / "quiet.wav", speech * 10 ** (-40 / 20))  # 40 dB down
    usual = _run("animate", tmp_path / "usual.wav", "--out", tmp_path / "u.npz")
    assert usual.exit_code == 0 and "note:" not in usual.output, usual.output
    quiet = _run("animate", tmp_path / "quiet.wav", "--out", tmp_path / "q.npz")
    assert quiet.exit_code == 0 and "quiet.wav: speech at" in quiet.output, quiet.output
    assert f"trained on {lo:.0f} to {hi:.0f} dBFS" in quiet.output
    label = _run("animate", tmp_path / "quiet.wav", "--out", tmp_path / "l.npz", "--emotion", "angry")
    assert label.exit_code == 0 and "note:" not in label.output  # the EDE did not read this speech
    swap = _run("swap-emotion", tmp_path / "usual.wav", tmp_path / "quiet.wav", "--out", tmp_path / "s.npz")
    assert swap.exit_code == 0 and swap.output.count("note:") == 1 and "quiet.wav: speech at" in swap.output
    write_wav(tmp_path / "silent.wav", np.zeros(32000, np.float32))  # one note, not a level one too
    for k, emotion in enumerate(([], ["--emotion", "happy"], ["--emotion", "neutral"])):
        silent = _run("animate", tmp_path / "silent.wav", "--out", tmp_path / f"z{k}.npz", *emotion)
        assert silent.exit_code == 0 and silent.output.count("note:") == 1, silent.output
        assert "silent.wav: no speech heard" in silent.output
        assert ("neutral (no speech heard)" in silent.output) == (k == 0)  # not the emotion of silence
    read, neutral = (np.load(tmp_path / f"z{k}.npz")["params"] for k in (0, 2))
    assert np.array_equal(read, neutral)
    ref = _run("swap-emotion", tmp_path / "usual.wav", tmp_path / "silent.wav", "--out", tmp_path / "r.npz")
    assert "silent.wav: no speech heard in this emotion reference" in str(
        ref.exception
    )  # not silence's emotion
    assert not (tmp_path / "r.npz").exists()


def test_animate_bad_input(use_chain, tmp_path):
    """Through the console script: one line naming the file or value, non-zero exit, no output."""
    import os
    import subprocess
    import sys

    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"RIFF1234WAVEjunk")
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(800, np.float32), 16000)  # 50 ms
    out = ["--out", str(tmp_path / "x.npz")]
    for args, needle in [
        (["animate", str(tmp_path / "missing.wav"), *out], "no such file"),
        (["animate", str(bad), *out], str(bad)),
        (["animate", str(bad), *out, "--emotion", "bored"], "bored"),
        (["animate", str(bad), *out, "--model", "emg/nope"], "emg/nope"),
        (["animate", str(short), *out], f"{short}: 50 ms of speech"),
        # output names are checked before the speech is read: a typo does not cost a long run
        (
            ["animate", str(short), "--out", str(tmp_path / "x.csv")],
            "are written as .npz (`talkface render` makes",
        ),
        (["swap-emotion", str(short), str(short), *out, "--render", "x.gif"], "x.gif: videos are written as"),
        (
            ["swap-emotion", str(short), str(tmp_path / "gone.mp4"), *out],
            f"{tmp_path / 'gone.mp4'}: no such file",
        ),
    ]:
        res = subprocess.run(
            [sys.executable, "-m", "talkface_cli", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "300"},
        )
        err = res.stderr.strip()
        assert res.returncode != 0 and needle in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "x.npz").exists()


def test_a_model_trained_with_a_hubert_found_elsewhere_animates_with_hubert_given(
    use_chain, tmp_path, monkeypatch, shared
):
    """A HuBERT-based model moved to another machine (or its HuBERT folder moved): its config
    names a folder that is not there. The error says to pass --hubert; with it, the model
    animates, from the layer it was trained on; a HuBERT of another width, or of other weights
    where the model knows its HuBERT's, is refused."""
    from talkface_cli.audio.features import Hubert
    from talkface_cli.errors import TalkfaceError
    from talkface_cli.inference.animate import Animator
    from talkface_cli.registry import Registry
    from tests.hubert_standin import make_hubert

    monkeypatch.delenv("TALKFACE_HUBERT", raising=False)  # restored after `--hubert` sets it
    reg = Registry()
    emg = reg.read("emg/t")  # its content features are 80 wide: a HuBERT 80 wide fits its weights
    config = {**emg.config, "model": {**emg.config["model"], "content": str(tmp_path / "gone/hubert")}}
    reg.save("emg/hubert", reg.load_state("emg/t"), config=config, meta=emg.meta)
    try:
        with pytest.raises(
            TalkfaceError, match="^emg/hubert was trained with the HuBERT at .*gone/hubert, which"
        ):
            Animator.load("emg/hubert", torch.device("cpu"))
        wav = shared / "data/ravdess/Audio_Speech_16k/Actor_01/03-01-01-01-01-01-01.flac"
        cmd = ["animate", str(wav), "--model", "emg/hubert", "--out", str(tmp_path / "o.npz")]
        res = _run(*cmd, "--hubert", make_hubert(tmp_path / "here/hubert", 80))
        assert res.exit_code == 0, res.output
        assert np.load(tmp_path / "o.npz")["params"].shape[0] == 83
        monkeypatch.setenv("TALKFACE_HUBERT", str(make_hubert(tmp_path / "narrow", 16)))
        with pytest.raises(
            TalkfaceError, match="narrow: a HuBERT 16 wide; emg/hubert was trained on one 80 wide"
        ):
            Animator.load("emg/hubert", torch.device("cpu"))
        here = Hubert(tmp_path / "here/hubert")
        model = {**config["model"], "content_layer": 0, "content_weights": here.weights}
        reg.remove("emg/hubert")
        reg.save("emg/hubert", reg.load_state("emg/t"), config={**config, "model": model}, meta=emg.meta)
        monkeypatch.setenv("TALKFACE_HUBERT", str(tmp_path / "here/hubert"))
        assert Animator.load("emg/hubert", torch.device("cpu")).encoder.layer == 0
        monkeypatch.setenv("TALKFACE_HUBERT", str(make_hubert(tmp_path / "tuned", 80, seed=1)))
        with pytest.raises(
            TalkfaceError,
            match=f"tuned: other weights .* than the HuBERT emg/hubert was trained with \\({here.weights}\\)",
        ):
            Animator.load("emg/hubert", torch.device("cpu"))
    finally:  # the chain's registry is shared by the other tests
        reg.remove("emg/hubert")


def test_a_flame_store_trains_and_animates_with_flame_model_given(
    talkface_home, tmp_path, monkeypatch, shared
):
    """FLAME faces need the user's FLAME files (here a stand-in made by code): every command that
    renders or fits them takes --flame-model, as its error says."""
    from tests.flame_standin import make_flame_standin

    monkeypatch.delenv("TALKFACE_FLAME", raising=False)  # restored after `--flame-model` sets it
    flame = str(make_flame_standin(tmp_path / "flame"))
    rng = np.random.default_rng(0)
    (tmp_path / "emoca").mkdir()
    for i in range(6):  # EMOCA-style FLAME codes of three speakers, happy and sad
        exp, pose = rng.normal(size=(50, 100)), rng.normal(0, 0.1, (50, 6))
        np.savez(tmp_path / f"emoca/c{i}.npz", exp=exp.astype(np.float32), pose=pose.astype(np.float32))
        sf.write(tmp_path / f"emoca/c{i}.wav", rng.normal(0, 0.1, 32000).astype(np.float32), 16000)
    rows = [f"c{i}.npz,{'abc'[i // 2]},{('happy', 'sad')[i % 2]}" for i in range(6)]
    (tmp_path / "labels.csv").write_text("path,speaker,emotion\n" + "\n".join(rows) + "\n")
    store = str(tmp_path / "store")
    prep = [
        "prep",
        "import",
        str(tmp_path / "emoca"),
        "--labels",
        str(tmp_path / "labels.csv"),
        "--out",
        store,
    ]
    assert _run(*prep).exit_code == 0
    fast = ["--set", "train.steps=2", "--set", "train.batch_size=2"]
    res = _run("train-sync", "--data", store, "--name", "sync/f", *fast)
    assert "--flame-model DIR" in str(res.exception)  # the option it names is there:
    for cmd in (
        ["train-sync", "--data", store, "--name", "sync/f"],
        ["train-ede", "--data", store, "--name", "ede/f"],
        ["train-emg", "--data", store, "--ede", "ede/f", "--sync", "sync/f", "--name", "emg/f"],
    ):
        res = _run(*cmd, *fast, "--flame-model", flame)
        assert res.exit_code == 0, (cmd[0], res.output, res.exception)
    wav = shared / "data/ravdess/Audio_Speech_16k/Actor_01/03-01-01-01-01-01-01.flac"
    res = _run("animate", wav, "--out", tmp_path / "o.npz", "--flame-model", flame)
    assert res.exit_code == 0, res.output
    assert str(np.load(tmp_path / "o.npz")["face_model"]) == "flame"


def test_the_readmes_python_block_runs_as_written(use_chain, shared, tmp_path, monkeypatch):
    """README's "From Python" block, on the tests' tiny models (emg/t for emg/demo)."""
    from talkface_cli.audio.io import load_audio
    from talkface_cli.face.sequence import load_sequence

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("### From Python")[1].split("```python\n")[1].split("```")[0]
    actor = shared / "data/ravdess/Audio_Speech_16k/Actor_07"
    for name, flac in (
        ("speech.wav", "03-01-01-01-01-01-07.flac"),
        ("angry.wav", "03-01-05-02-01-01-07.flac"),
    ):
        sf.write(tmp_path / name, load_audio(actor / flac), 16000)
    monkeypatch.chdir(tmp_path)
    run: dict = {}
    exec(block.replace('"emg/demo"', '"emg/t"'), run)  # the README's own code
    frames = round(len(run["speech"]) / 640)
    happy = load_sequence(tmp_path / "happy.npz")
    assert happy.params.shape == (frames, 53) and len(happy.audio) == len(run["speech"])
    assert (tmp_path / "happy.mp4").stat().st_size > 0
    np.testing.assert_array_equal(happy.params, run["happy"].params)
    assert np.abs(run["happy"].params - run["angry"].params).mean() > 1e-3  # the emotion moves the face


def test_a_video_reference_shows_its_tracking(use_chain, shared, tmp_path):
    """A reference video is tracked before the face is made: minutes for a long one, which went
    by without a word."""
    import os
    import sys

    home, store, _ = use_chain
    real = shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"
    speech = sorted((store / "clips").glob("*.npz"))[0]
    sf.write(tmp_path / "speech.wav", np.load(speech)["audio"], 16000)
    env = {k: v for k, v in os.environ.items() if k != "TALKFACE_NO_PROGRESS"} | {"TALKFACE_HOME": str(home)}
    args = ["swap-emotion", tmp_path / "speech.wav", real, "--out", tmp_path / "s.npz"]
    done = subprocess.run(
        [sys.executable, "-m", "talkface_cli", *map(str, args)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert re.search(rf"track {real.name} .*81/81 100% .*frame/s", done.stderr), done.stderr


def test_long_speech_shows_its_passes_under_progress_bars(use_chain, tmp_path):
    """Two minutes of speech or more show the emotion, content and motion passes with rate and ETA
    (an hour-long recording with a HuBERT on a CPU takes minutes, which went by without a word);
    shorter speech shows none."""
    import os
    import sys

    home, store, _ = use_chain
    speech = np.load(sorted((store / "clips").glob("*.npz"))[0])["audio"]
    sf.write(tmp_path / "long.wav", np.tile(speech, -(-121 * 16000 // len(speech))), 16000)
    sf.write(tmp_path / "short.wav", speech, 16000)
    env = {k: v for k, v in os.environ.items() if k != "TALKFACE_NO_PROGRESS"} | {"TALKFACE_HOME": str(home)}
    for name in ("long", "short"):
        args = ["animate", tmp_path / f"{name}.wav", "--out", tmp_path / f"{name}.npz"]
        done = subprocess.run(
            [sys.executable, "-m", "talkface_cli", *map(str, args)], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        frames = len(np.load(tmp_path / f"{name}.npz")["params"])
        bars = [
            rf"{what} {name}.wav .*{frames}/{frames} +100% .*frame/s"
            for what in ("emotion of", "content of", "motion for")
        ]
        assert [bool(re.search(b, done.stderr)) for b in bars] == [name == "long"] * 3, done.stderr
