"""Evaluation: every metric against hand-computed values, and `talkface eval` end to end (its
report files agree with the printed table)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from talkface_cli.eval import metrics
from talkface_cli.eval.metrics import (
    Spread,
    displacement,
    dynamics_deviation,
    frame_max_sq,
    frechet_distance,
)


def test_lve_conventions_differ_by_hand():
    gt = torch.zeros(2, 3, 3)
    pred = torch.zeros(2, 3, 3)
    pred[0, 0, 0] = 0.003  # frame 0: lip errors 3 mm and 4 mm -> max 4 mm (16 mm^2)
    pred[0, 1, 1] = 0.004
    pred[1, 2, 2] = 0.001  # frame 1: 1 mm (1 mm^2)
    lips = torch.tensor([0, 1, 2])
    assert frame_max_sq(pred, gt, lips).sqrt().mean() == pytest.approx((4 + 1) / 2)  # LVE
    assert frame_max_sq(pred, gt, lips).mean() == pytest.approx((16 + 1) / 2)  # CodeTalker's
    # the squared convention is not the square of the L2 one
    assert (16 + 1) / 2 != pytest.approx(((4 + 1) / 2) ** 2)
    # EVE is the same statistic on another region: only vertex 2 -> frames 0 and 1 mm
    assert frame_max_sq(pred, gt, torch.tensor([2])).sqrt().mean() == pytest.approx(0.5)


def test_fdd_by_hand():
    template = torch.zeros(2, 3)
    gt = torch.zeros(4, 2, 3)
    gt[:, 0, 0] = torch.tensor([0.0, 0.002, 0.0, 0.002])  # displacement 0, 2, 0, 2 mm: std 1 mm
    pred = torch.zeros(4, 2, 3)  # no motion: std 0
    # vertex 0: 1 - 0; vertex 1: 0 - 0 -> mean 0.5 mm
    moved = lambda v: Spread().add(displacement(v, template, torch.tensor([0, 1])))  # noqa: E731
    assert dynamics_deviation(moved(pred), moved(gt)) == pytest.approx(0.5)
    assert dynamics_deviation(moved(gt), moved(gt)) == pytest.approx(0.0)


def test_vertex_scores_in_pieces_are_the_whole_clips(monkeypatch):
    """A clip's vertices are made CHUNK frames at a time (a 5-minute clip's at once took 2.9 GB):
    the scores are those of all its frames at once."""
    from talkface_cli.face.load import load_face_model

    face = load_face_model("ict")
    gen = torch.Generator().manual_seed(0)
    pred, gt = torch.rand(23, 53, generator=gen), torch.rand(23, 53, generator=gen)
    whole = metrics.vertex_scores(face, pred, gt)
    lips, eyes, upper = (face.region(r) for r in ("lips", "eyes_forehead", "upper_face"))
    vp, vg = face.expression_vertices(pred, None), face.expression_vertices(gt, None)
    assert whole["lve"] == pytest.approx(float(frame_max_sq(vp, vg, lips).sqrt().mean()), rel=1e-6)
    assert whole["eve"] == pytest.approx(float(frame_max_sq(vp, vg, eyes).sqrt().mean()), rel=1e-6)
    moved = lambda v: Spread().add(displacement(v, face.template, upper))  # noqa: E731
    fdd = dynamics_deviation(moved(vp), moved(vg))
    assert whole["fdd"] == pytest.approx(fdd, rel=1e-5)
    monkeypatch.setattr(metrics, "CHUNK", 5)  # pieces of 5, 5, 5, 5 and 3 frames
    assert metrics.vertex_scores(face, pred, gt) == pytest.approx(whole, rel=1e-5)
    assert metrics.lve(face, pred, gt) == pytest.approx(whole["lve"], rel=1e-5)


def test_the_latex_table_bolds_each_columns_best_contender():
    """report.tex: a column's best among the methods and baselines (lowest LVE, highest LSE-C and
    accuracy, FDD nearest 0), never the ground truth's rows; LaTeX's specials escaped."""
    from talkface_cli.eval.tables import latex

    columns = {"lve": "LVE (mm²)", "fdd": "FDD (mm, GT - pred)", "lse_c": "LSE-C", "emotion_acc": "acc. (%)"}
    table = {
        "emg/a_1": {"lve": 3.0, "fdd": -0.4, "lse_c": 5.0, "emotion_acc": 90.0},
        "ours & theirs": {"lve": 4.0, "fdd": 0.2, "lse_c": 6.0, "emotion_acc": None},
        "mean face": {"lve": 7.0, "fdd": 0.9, "lse_c": 1.0, "emotion_acc": 13.0},
        "ground truth": {"lve": 0.0, "fdd": 0.0, "lse_c": 7.0, "emotion_acc": 100.0},
    }
    report = {"columns": columns, "rows": list(table), "table": table}
    report |= {"baselines": ["mean face", "ground truth"], "references": ["ground truth"]}
    lines = latex(report).splitlines()
    assert lines[0] == r"\begin{tabular}{lrrrr}" and lines[-1] == r"\end{tabular}"
    assert lines[2] == r"method & LVE (mm$^2$) & FDD (mm, GT - pred) & LSE-C & acc. (\%) \\"
    assert lines[4] == r"emg/a\_1 & \textbf{3} & -0.4 & 5 & \textbf{90} \\"
    assert lines[5] == r"ours \& theirs & 4 & \textbf{0.2} & \textbf{6} & - \\"
    assert lines[6] == r"\midrule" and lines[8] == r"ground truth & 0 & 0 & 7 & 100 \\"


def test_frechet_by_hand():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (4000, 1))
    y = rng.normal(3, 2, (4000, 1))
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    expected = (x.mean() - y.mean()) ** 2 + (x.std(ddof=1) - y.std(ddof=1)) ** 2
    assert frechet_distance(x, y) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    z = rng.normal(size=(50, 3))
    assert frechet_distance(z, z + np.array([1.0, 2.0, 2.0])) == pytest.approx(9.0, rel=1e-6)


def test_eval_end_to_end(use_chain, tmp_path):
    from typer.testing import CliRunner

    from talkface_cli.app import app

    _, store, _ = use_chain
    out = tmp_path / "report"
    res = CliRunner().invoke(
        app,
        [
            "eval",
            "--emg",
            "emg/t",
            "--data",
            str(store),
            "--split",
            "test",
            "--out",
            str(out),
            "--examples",
            "1",
            "--swaps",
        ],
        env={"COLUMNS": "250"},
    )
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    table = report["table"]
    assert report["rows"] == ["emg/t", "template", "mean face", "ground truth", "GT, audio +10"]
    assert table["ground truth"]["lve"] == 0 and table["GT, audio +10"]["lve"] == 0
    assert table["template"]["lve"] > 0 and not math.isnan(table["emg/t"]["rtf"])
    assert set(report["breakdown"]) == {"emotion", "intensity", "speaker"}
    md = (out / "report.md").read_text()
    from talkface_cli.ui import fmt

    for name, vals in table.items():  # the printed table and report.md carry the JSON's numbers
        assert name in res.output and f"| {name} | {fmt(vals['lve'])} |" in md
        assert fmt(vals["lve"]) in res.output
    tex = (out / "report.tex").read_text()  # the main table for a paper, the same numbers
    for name, vals in table.items():
        assert any(line.startswith(f"{name} & ") and fmt(vals["lve"]) in line for line in tex.splitlines())
    assert len(report["examples"]) == 1 and (out / "examples").is_dir()
    sw = report["swap"]  # every test clip has a clip of another emotion to take it from
    assert sw["swaps"] == len(report["clips"]) and 0 <= sw["accuracy_pct"] <= 100
    assert sw["lve_rise_pct"] == pytest.approx(100 * (sw["lve_swapped_mm"] / sw["lve_plain_mm"] - 1))
    assert sw["lve_gt_emotion_shift_mm"] > 1  # the corpus's emotions move the lips by millimetres
    assert report["setup"]["held_out_checked"] == {"emg/t": True, "ede/t": True, "sync/t": True}
    from talkface_cli.fsutil import sha256_file
    from talkface_cli.registry import Registry, code_version

    weights = report["setup"]["weights_sha256"]  # which weights and code made the numbers
    assert set(weights) == {"emg/t", "ede/t", "sync/t"} and report["setup"]["code"] == code_version()
    assert weights["emg/t"] == sha256_file(Registry().read("emg/t").path / "model.safetensors")
    assert f"`emg/t` {weights['emg/t'][:12]}" in (out / "report.md").read_text()
    assert "Held out: none of emg/t, ede/t, sync/t trained on these clips." in md
    assert "emotion swaps" in md and fmt(sw["lve_gt_emotion_shift_mm"]) in res.output
    assert all(h in res.output for h in ("LVE (mm, max L2)", "LVE (mm², max squared L2)", "LSE-D"))
    mine = tmp_path / "mine"  # a user's folder as --out: refused before any scoring, nothing replaced
    mine.mkdir()
    (mine / "report.md").write_text("my report")
    (mine / "notes.txt").write_text("mine")
    res = CliRunner().invoke(app, ["eval", "--emg", "emg/t", "--data", str(store), "--out", str(mine)])
    assert str(res.exception).endswith(
        "(notes.txt), not an evaluation report; give --out a new or empty folder"
    )
    assert (mine / "report.md").read_text() == "my report" and len(list(mine.iterdir())) == 2


def test_eval_for_a_script_puts_the_report_alone_on_stdout(use_chain, tmp_path):
    from typer.testing import CliRunner

    from talkface_cli.app import app

    _, store, _ = use_chain
    args = ["eval", "--emg", "emg/t", "--data", str(store), "--limit", "2", "--json", "-"]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "report")])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)  # for `| jq`: no table, no note in it
    assert report == json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["rows"][0] == "emg/t" and len(report["clips"]) == 2
    assert "Held out: none of emg/t" in res.stderr and "│ emg/t" not in res.output  # no table row
    res = CliRunner().invoke(app, [*args, "--export-speech", str(tmp_path / "speech")])
    assert res.exit_code == 0, res.output
    written = json.loads(res.stdout)
    assert written["speech"] == [str(tmp_path / "speech" / f"{c}.wav") for c in report["clips"]]
    assert written["template"] == str(tmp_path / "speech" / "template.ply")
    assert all(Path(f).is_file() for f in [*written["speech"], written["template"]])


def test_centroid_accuracies_by_hand():
    from talkface_cli.eval import emotion_space as es

    names = ["neutral", "happy", "sad", "angry", "calm"]
    cents = np.eye(5)
    # 4 samples: a happy one nearest 'calm' (wrong among 5, right among the 4 kept classes)
    z = np.array([[0.1, 0.5, 0, 0, 0.9], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [1, 0, 0, 0.2, 0]])
    truth = ["happy", "sad", "calm", "angry"]
    assert es.nearest_centroid(z, names, cents) == ["calm", "sad", "calm", "neutral"]
    assert es.accuracy(es.nearest_centroid(z, names, cents), truth) == 0.5
    # among neutral/happy/sad/angry: the calm sample is left out, 'happy' is now right
    assert es.subset_accuracy(z, truth, names, cents, ("neutral", "happy", "sad", "angry")) == 2 / 3


def test_a_class_without_a_video_centroid_is_never_the_reading():
    """An EDE keeps a zero video centroid for a class whose training clips had no face; its dot
    product (0) would beat real centroids that all point away from the motion."""
    from types import SimpleNamespace

    from talkface_cli.eval import emotion_space as es
    from talkface_cli.inference.emotion import centroid_classes, nearest_emotion

    ede = SimpleNamespace(
        centroids_video=torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]),
        cfg=SimpleNamespace(emotions=["angry", "calm", "happy"]),
    )
    names, cents = centroid_classes(ede, "video")
    assert names == ["angry", "happy"] and cents.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    z = np.array([[-1.0, -0.5]])
    assert es.nearest_centroid(z, ["angry", "calm", "happy"], ede.centroids_video.numpy()) == ["calm"]
    assert es.nearest_centroid(z, names, cents) == ["happy"]  # as eval reads a clip's motion
    assert nearest_emotion(ede, z[0], "video") == "happy"  # as swap-emotion names a video reference


def test_emotion_means_weigh_clips_equally():
    from pathlib import Path

    from talkface_cli.data.datasets import Clip
    from talkface_cli.eval.run import emotion_means

    def clip(emotion: str, params: list[list[float]]) -> Clip:
        return Clip(Path("."), {"emotion": emotion}, np.zeros(1), np.array(params, np.float32), None, "ict")

    means = emotion_means(
        [clip("sad", [[0, 2], [2, 2], [4, 2]]), clip("sad", [[0, 0]]), clip("happy", [[1, 1], [3, 1]])]
    )
    # sad: clip means (2, 2) and (0, 0) -> (1, 1), whatever their lengths; happy: (2, 1)
    assert set(means) == {"sad", "happy"}
    np.testing.assert_allclose(means["sad"], [1, 1])
    np.testing.assert_allclose(means["happy"], [2, 1])


def test_another_methods_outputs_are_scored_beside_the_models(use_chain, tmp_path):
    """--export-speech writes the scored clips' speech; --predictions scores a folder of outputs
    for them: talkface sequences, or EmoTalk-style ARKit curves at 30 fps."""
    import soundfile as sf
    from typer.testing import CliRunner

    from talkface_cli.app import app
    from talkface_cli.eval.run import scored_clips
    from talkface_cli.face.arkit import ict_to_arkit, resample
    from talkface_cli.face.load import load_face_model
    from talkface_cli.face.sequence import ParamSequence

    _, store, _ = use_chain
    run = lambda *a: CliRunner().invoke(app, list(map(str, a)), env={"COLUMNS": "250"})  # noqa: E731
    res = run("eval", "--data", store, "--limit", "3", "--export-speech", tmp_path / "speech")
    assert res.exit_code == 0, res.output
    clips = scored_clips([store], "test", 3)
    made = sorted(p.name for p in (tmp_path / "speech").iterdir())
    assert made == sorted([*(f"{c.id}.wav" for c in clips), "template.ply"])
    for c in clips:
        audio, rate = sf.read(tmp_path / "speech" / f"{c.id}.wav", dtype="float32")
        assert rate == 16000 and np.array_equal(audio, c.audio)
    names = load_face_model("ict").param_names
    for folder in ("oracle", "arkit"):
        (tmp_path / folder).mkdir()
    for c in clips:  # the ground truth itself, and the ground truth through ARKit at 30 fps
        ParamSequence(c.params, names).save(tmp_path / "oracle" / f"{c.id}.npz")
        np.save(tmp_path / "arkit" / f"{c.id}.npy", resample(ict_to_arkit(c.params, names), 25, 30))
    res = run("animate", *sorted((tmp_path / "speech").glob("*.wav")), "--out", tmp_path / "cli")
    assert res.exit_code == 0, res.output  # the toolkit's own command as the other method
    args = ["eval", "--emg", "emg/t", "--data", store, "--limit", "3", "--out", tmp_path / "report"]
    folders = [tmp_path / f for f in ("oracle", "arkit", "cli")]
    res = run(*args, *(a for f in folders for a in ("--predictions", f)))
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    table = report["table"]
    assert report["rows"][:4] == ["emg/t", "oracle", "arkit", "cli"] and "arkit" in res.output
    for metric in ("lve", "eve", "fdd", "lse_d", "lse_c", "emotion_acc"):
        assert table["oracle"][metric] == table["ground truth"][metric], metric
        assert table["cli"][metric] == pytest.approx(table["emg/t"][metric], rel=1e-4, abs=1e-6), metric
    assert table["oracle"]["rtf"] is None  # not timed: made elsewhere (NaN, written as null)
    assert 0 < table["arkit"]["lve"] < 0.5 * table["mean face"]["lve"]
    (tmp_path / "arkit" / f"{clips[1].id}.npy").unlink()
    res = run(*args, "--predictions", tmp_path / "arkit")
    assert res.exit_code == 1 and "no prediction for 1 of 3 clips" in str(res.exception)
    long = ParamSequence(np.concatenate([clips[0].params] * 2), names)
    long.save(tmp_path / "oracle" / f"{clips[0].id}.npz")
    res = run(*args, "--predictions", tmp_path / "oracle")
    assert res.exit_code == 1 and f"{2 * clips[0].frames} frames at 25 fps for a clip of" in str(
        res.exception
    )


def test_an_evaluation_stopped_part_way_goes_on_from_the_clips_it_scored(use_chain, tmp_path, monkeypatch):
    """A prediction file found broken at the third clip stops the evaluation; the first two clips'
    scores are kept, and once the file is mended only the third is scored. The report is a
    straight run's, and the kept scores go once it is written."""
    from typer.testing import CliRunner

    from talkface_cli.app import app
    from talkface_cli.eval import run as eval_run
    from talkface_cli.eval.kept import FOLDER
    from talkface_cli.face.load import load_face_model
    from talkface_cli.face.sequence import ParamSequence
    from talkface_cli.lock import working_in

    _, store, _ = use_chain
    run = lambda *a: CliRunner().invoke(app, list(map(str, a)), env={"COLUMNS": "250"})  # noqa: E731
    clips = eval_run.scored_clips([store], "test", 3)
    names, oracle = load_face_model("ict").param_names, tmp_path / "oracle"
    oracle.mkdir()
    for c in clips:
        ParamSequence(c.params, names).save(oracle / f"{c.id}.npz")
    broken = clips[2].params.copy()
    broken[5, 0] = np.nan
    ParamSequence(broken, names).save(oracle / f"{clips[2].id}.npz")
    calls = []  # the clips the model animates
    animate = eval_run.sequences
    monkeypatch.setattr(eval_run, "sequences", lambda a, c, *r: calls.append(c.id) or animate(a, c, *r))
    args = ["eval", "--emg", "emg/t", "--data", store, "--limit", "3", "--predictions", oracle, "--swaps"]
    res = run(*args, "--out", tmp_path / "report")
    assert res.exit_code == 1 and "holds NaN or infinite values" in str(res.exception), res.output
    assert calls == [c.id for c in clips] and not (tmp_path / "report" / "report.json").exists()
    ParamSequence(clips[2].params, names).save(oracle / f"{clips[2].id}.npz")  # mended
    calls.clear()
    res = run(*args, "--out", tmp_path / "report")
    assert res.exit_code == 0 and "going on from the 2 score(s) its evaluation kept" in res.output
    assert calls[0] == clips[2].id and len(calls) == 1 + 2 * 3  # the third clip, then 3 swaps of 2
    assert not (tmp_path / "report" / FOLDER).exists()
    res = run(*args, "--out", tmp_path / "straight")
    assert res.exit_code == 0 and "going on" not in res.output
    resumed, straight = (
        json.loads((tmp_path / f / "report.json").read_text()) for f in ("report", "straight")
    )
    for r in (resumed, straight):  # the model's speed is timed afresh
        r["table"]["emg/t"].pop("rtf")
    assert resumed == straight and resumed["table"]["oracle"]["lve"] == 0
    assert resumed["swap"]["swaps"] == 3
    with working_in(tmp_path / "report", "eval"):  # another eval still writing there: its scores
        res = run(*args, "--out", tmp_path / "report")
    assert res.exit_code == 1 and "report: in use by eval, process" in str(res.exception)


def test_the_default_report_folder_keeps_another_evaluations_report(use_chain, tmp_path, monkeypatch):
    """Without --out, the train split's report does not replace the test split's, nor does a run
    go where another is writing."""
    from typer.testing import CliRunner

    from talkface_cli.app import app
    from talkface_cli.lock import working_in

    _, store, _ = use_chain
    monkeypatch.chdir(tmp_path)
    run = lambda *a: CliRunner().invoke(
        app, ["eval", "--emg", "emg/t", "--data", str(store), "--limit", "1", *a]
    )  # noqa: E731
    split_of = lambda folder: json.loads((tmp_path / folder / "report.json").read_text())["work"]["split"]  # noqa: E731
    assert run().exit_code == 0 and split_of("eval-emg-t") == "test"
    res = run("--split", "train")
    assert (
        res.exit_code == 0
        and "note: eval-emg-t holds another evaluation's report or run; this one goes to eval-emg-t-2"
        in res.output
    )
    assert split_of("eval-emg-t") == "test" and split_of("eval-emg-t-2") == "train"
    res = run()  # the same evaluation again: its own report made anew, no third folder
    assert res.exit_code == 0 and "note:" not in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval-emg-t", "eval-emg-t-2"]
    with working_in(tmp_path / "eval-emg-t", "eval"):  # the same evaluation running in another terminal
        res = run()
    assert res.exit_code == 0 and "this one goes to eval-emg-t-3" in res.output


def test_kept_scores_are_cleared_for_other_work(tmp_path):
    from talkface_cli.eval.kept import FOLDER, KeptScores

    kept = KeptScores(tmp_path, "work A")
    made = kept.scored("clip-1", lambda: {"lve": np.float32(1.5), "acc": float("nan"), "z": np.ones(2)})
    assert made["lve"] == 1.5 and math.isnan(made["acc"]) and made["z"] == [1.0, 1.0]
    again = KeptScores(tmp_path, "work A")
    assert again.before == 1 and again.scored("clip-1", lambda: pytest.fail("scored again"))["lve"] == 1.5
    other = KeptScores(tmp_path, "work B")  # another seed or model: nothing of A's is taken
    assert other.before == 0 and other.scored("clip-1", lambda: {"lve": 2.0}) == {"lve": 2.0}
    assert sorted(p.name for p in (tmp_path / FOLDER).iterdir()) == ["clip-1.json", "work.json"]
    nothing = KeptScores(None, "")  # no report folder: scored, kept nowhere
    assert nothing.scored("clip-1", lambda: {"lve": 3.0}) == {"lve": 3.0}


def _no_face_model(*args, **kwargs):
    from talkface_cli.errors import TalkfaceError

    raise TalkfaceError("no FLAME here")


def test_vertices_fit_back_to_the_parameters_that_made_them(tmp_path):
    """ICT-FaceKit is linear in its parameters; FLAME's jaw turns by skinning, which the fit's
    L-BFGS step takes from the linear solution to the parameters."""
    from talkface_cli.eval.vertices import fit_vertices
    from talkface_cli.face.flame import FlameFace
    from talkface_cli.face.ict import ICTFace
    from tests.flame_standin import make_flame_standin

    rng = np.random.default_rng(0)
    flame = FlameFace(make_flame_standin(tmp_path / "flame"))
    for face, params in (
        (ICTFace(), rng.uniform(-0.1, 1, (30, 53))),
        (
            flame,
            np.concatenate([rng.normal(0, 1, (30, 50)), rng.uniform(0, 0.4, (30, 3)) * [1, 0.2, 0.2]], 1),
        ),
    ):
        params = params.astype(np.float32)
        verts = face.expression_vertices(torch.from_numpy(params), None).numpy()
        fit = fit_vertices(face, verts)
        assert fit.residual.shape == (30,) and fit.residual.max() < 1e-6 and fit.pose is None  # metres
        np.testing.assert_allclose(fit.params, params, atol=1e-3)


def test_a_prediction_holding_nan_is_one_line_naming_it(tmp_path):
    """A method's output with a NaN (a frame its network lost) scored NaN on every metric."""
    from talkface_cli.errors import TalkfaceError
    from talkface_cli.eval.predictions import load_prediction
    from talkface_cli.face.ict import ICTFace

    face = ICTFace()
    verts = np.repeat(face.template.numpy()[None], 30, 0)
    verts[4, 10] = np.nan
    np.save(tmp_path / "s06_clip.npy", verts)
    with pytest.raises(TalkfaceError, match=r"s06_clip\.npy: holds NaN or infinite values$"):
        load_prediction(tmp_path / "s06_clip.npy", face, 30)


def test_a_vertex_methods_outputs_are_fitted_to_the_face_model_and_scored(use_chain, tmp_path):
    """A FaceFormer-style method animates the exported template: its (T, V, 3) vertices, at 25 or
    30 fps, score as the parameters they come from; other shapes and lengths are refused."""
    import trimesh
    from typer.testing import CliRunner

    from talkface_cli.app import app
    from talkface_cli.eval.run import scored_clips
    from talkface_cli.face.arkit import resample
    from talkface_cli.face.load import load_face_model

    _, store, _ = use_chain
    run = lambda *a: CliRunner().invoke(app, list(map(str, a)), env={"COLUMNS": "250"})  # noqa: E731
    assert run("eval", "--data", store, "--limit", "2", "--export-speech", tmp_path / "speech").exit_code == 0
    face = load_face_model("ict")
    template = trimesh.load(tmp_path / "speech" / "template.ply", process=False)
    rest = face.expression_vertices(torch.zeros(1, face.dim), None)[0].numpy()
    np.testing.assert_array_equal(template.vertices, rest)
    np.testing.assert_array_equal(template.faces, face.faces.numpy())
    clips = scored_clips([store], "test", 2)
    with pytest.MonkeyPatch.context() as mp:  # a face model that cannot load (FLAME files elsewhere)
        mp.setattr("talkface_cli.face.load.load_face_model", _no_face_model)
        res = run("eval", "--data", store, "--limit", "2", "--export-speech", tmp_path / "only")
    assert res.exit_code == 0 and "no template.ply for vertex methods: no FLAME here" in res.output
    assert sorted(p.name for p in (tmp_path / "only").iterdir()) == sorted(f"{c.id}.wav" for c in clips)
    for folder in ("same", "thirty"):
        (tmp_path / folder).mkdir()
    for c in clips:  # the ground truth as a vertex method would give it: at 25 fps, and at 30 as (T, 3V)
        verts = face.expression_vertices(torch.from_numpy(c.params).float(), None).numpy()
        np.save(tmp_path / "same" / f"{c.id}.npy", verts)
        np.save(tmp_path / "thirty" / f"{c.id}.npy", resample(verts.reshape(len(verts), -1), 25, 30))
    args = ["eval", "--emg", "emg/t", "--data", store, "--limit", "2", "--out", tmp_path / "report"]
    res = run(*args, "--predictions", tmp_path / "same", "--predictions", tmp_path / "thirty")
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    table, fit = report["table"], report["setup"]["predictions_fit_mm"]
    assert set(fit) == {"same", "thirty"} and max(fit.values()) < 1e-3  # millimetres left by the fit
    assert (
        table["same"]["lve"] < 1e-3 and table["same"]["emotion_acc"] == table["ground truth"]["emotion_acc"]
    )
    assert table["same"]["lse_d"] == pytest.approx(table["ground truth"]["lse_d"], abs=1e-3)
    assert 0 < table["thirty"]["lve"] < 0.2 * table["mean face"]["lve"]  # 25 -> 30 -> 25 fps smooths
    assert "same: its vertices fitted to the face model's parameters" in res.output
    np.save(tmp_path / "same" / f"{clips[0].id}.npy", np.zeros((clips[0].frames, 100, 3)))
    res = run(*args, "--predictions", tmp_path / "same")
    assert "expected ARKit-52 curves (T, 52) or vertices on the ict template" in str(res.exception)
    np.save(tmp_path / "same" / f"{clips[0].id}.npy", np.zeros((3 * clips[0].frames, face.num_vertices, 3)))
    res = run(*args, "--predictions", tmp_path / "same")
    assert "at 25, 30, 50, 60 fps none is as long as the clip" in str(res.exception)


def test_scores_of_clips_a_model_trained_on_are_refused(use_chain, tmp_path):
    """A model keeps a record of the clips it trained on (by their sound, so a moved or copied
    store is known). A store split again after training puts a training clip in its test split:
    eval refuses to score it, naming the model; the train split, asked for, is scored. A model
    without the record (older talkface) is scored and reported unchecked."""
    import shutil

    from typer.testing import CliRunner

    from talkface_cli.app import app
    from talkface_cli.data.provenance import TRAINED
    from talkface_cli.data.store import read_manifest, write_manifest

    home, store, _ = use_chain
    records = read_manifest(store)
    trained = json.loads((home / "models/emg/t" / TRAINED).read_text())["clips"]
    assert len(trained) == sum(r["split"] == "train" for r in records)
    copy = tmp_path / "store"  # moved elsewhere and split again: one training clip is now a test clip
    shutil.copytree(store, copy)
    moved = next(r for r in records if r["split"] == "train")
    write_manifest(copy, [r | {"split": "test"} if r is moved else r for r in records])
    run = lambda *a: CliRunner().invoke(app, ["eval", "--emg", "emg/t", "--data", str(copy), *a])  # noqa: E731
    res = run("--out", str(tmp_path / "r1"))
    tests = sum(r["split"] == "test" for r in records) + 1
    assert res.exit_code == 1 and str(res.exception).startswith(
        f"emg/t trained on 1 of the {tests} clips of split 'test' (e.g. {moved['id']}), or on other files"
    ), res.output
    assert not (tmp_path / "r1").exists()
    res = run("--split", "train", "--limit", "1", "--out", str(tmp_path / "r2"))
    assert res.exit_code == 0 and "The train split: not checked to be held out" in res.output, res.output
    old = tmp_path / "home"  # the same models from before the record was kept
    shutil.copytree(home, old)
    for kind in ("emg", "ede", "sync"):
        (old / "models" / kind / "t" / TRAINED).unlink()
    res = CliRunner().invoke(
        app,
        ["eval", "--emg", "emg/t", "--data", str(copy), "--limit", "1", "--out", str(tmp_path / "r3")],
        env={"TALKFACE_HOME": str(old)},
    )
    assert res.exit_code == 0, res.output
    checked = json.loads((tmp_path / "r3/report.json").read_text())["setup"]["held_out_checked"]
    assert checked == {"emg/t": False, "ede/t": False, "sync/t": False}
    assert "Not checked for emg/t, ede/t, sync/t: trained before" in (tmp_path / "r3/report.md").read_text()


def test_a_label_the_ede_does_not_know_is_left_out_of_emotion_accuracy(use_chain, tmp_path):
    """MEAD's contempt read by an EDE trained on RAVDESS's classes could only be a miss: such clips
    are scored on every other metric, left out of emotion accuracy (and of swap accuracy as a
    reference), and the report says how many clips the accuracy is over."""
    import shutil

    from typer.testing import CliRunner

    from talkface_cli.app import app
    from talkface_cli.data.store import read_manifest, write_manifest

    _, store, _ = use_chain
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    records = read_manifest(store)
    odd = next(r for r in records if r["split"] == "test")
    write_manifest(copy, [r | {"emotion": "contempt"} if r is odd else r for r in records])
    args = ["eval", "--emg", "emg/t", "--data", str(copy), "--swaps", "--out", str(tmp_path / "r")]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "r/report.json").read_text())
    n = len(report["clips"])
    assert (
        report["setup"]["emotions_unread"] == ["contempt"] and report["setup"]["emotion_read_clips"] == n - 1
    )
    assert f"Emotion accuracy over {n - 1} of {n} clips: no video centroid for contempt in emg/t's EDE." in (
        " ".join(res.output.split())
    )
    groups = report["breakdown"]["emotion"]
    assert groups["contempt"]["clips"] == 1 and groups["contempt"]["emotion_acc"] is None
    assert groups["contempt"]["lve"] > 0  # scored on the rest
    known = [(g["emotion_acc"], g["clips"]) for e, g in groups.items() if e != "contempt"]
    expected = sum(a * c for a, c in known) / sum(c for _, c in known)
    assert report["table"]["emg/t"]["emotion_acc"] == pytest.approx(expected)
    label = {r["id"]: r["emotion"] for r in read_manifest(copy)}
    emo = [label[c] for c in report["clips"]]
    refs = [next(e for e in emo[i + 1 :] + emo[:i] if e != emo[i]) for i in range(n)]  # as swaps are made
    sw = report["swap"]  # swaps whose reference is the contempt clip are not read
    assert sw["swaps"] == n and sw["swaps_read"] == sum(r != "contempt" for r in refs) < n


def test_clips_without_an_emotion_label_are_scored_on_the_rest(use_chain, tmp_path):
    """HDTF and VOCASET carry no emotion labels, and the paper scores lip sync and VE-FID on them:
    such clips are scored on every metric but emotion accuracy, and leave the swaps (which need
    both labels); a split with no label at all is scored too."""
    import shutil

    from typer.testing import CliRunner

    from talkface_cli.app import app
    from talkface_cli.data.store import read_manifest, write_manifest

    _, store, _ = use_chain
    records = read_manifest(store)
    test = [r["id"] for r in records if r["split"] == "test"]
    for name, bare in (("some", set(test[:2])), ("none", set(test))):
        copy = tmp_path / name
        shutil.copytree(store, copy)
        write_manifest(copy, [r | {"emotion": None} if r["id"] in bare else r for r in records])
        args = [
            "eval",
            "--emg",
            "emg/t",
            "--data",
            str(copy),
            "--swaps",
            "--out",
            str(tmp_path / f"r-{name}"),
        ]
        res = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
        assert res.exit_code == 0, res.output
        report = json.loads((tmp_path / f"r-{name}/report.json").read_text())
        n, k = len(test), len(bare)
        assert report["clips"] == test and report["setup"]["unlabelled_clips"] == k
        assert report["setup"]["emotion_read_clips"] == n - k and report["setup"]["emotions_unread"] == []
        assert f"Emotion accuracy over {n - k} of {n} clips: {k} carry no emotion label." in " ".join(
            res.output.split()
        )
        row = report["table"]["emg/t"]
        assert row["lve"] > 0 and row["lse_d"] > 0 and row["ve_fid"] is not None
        assert (row["emotion_acc"] is None) == (k == n)
        assert report["swap"].get("swaps", 0) == (n - k if k < n else 0)
        by_emotion = report["breakdown"].get("emotion", {})  # none at all: no breakdown by emotion
        assert by_emotion.get("unlabelled", {}).get("clips") == (k if k < n else None)
        assert set(report["breakdown"]) == ({"emotion"} if k < n else set()) | {"intensity", "speaker"}


def test_vertex_predictions_on_the_speakers_own_face_are_fitted_with_its_identity(tmp_path):
    """A method run on VOCASET animates each speaker's template, not the face model's: its
    vertices are fitted on the clip speaker's identity, and vertices on the template still on
    the template."""
    from talkface_cli.eval.predictions import load_prediction
    from talkface_cli.face.load import load_face_model

    face = load_face_model("ict")
    rng = np.random.default_rng(0)
    params = rng.uniform(0, 1, (40, 53)).astype(np.float32)
    shape = rng.normal(0, 1, face.shape_dim).astype(np.float32)
    for name, identity in (("own", shape), ("template", None)):
        verts = face.expression_vertices(
            torch.from_numpy(params), None if identity is None else torch.from_numpy(shape)
        )
        np.save(tmp_path / f"{name}.npy", verts.numpy())
        fitted, residual = load_prediction(tmp_path / f"{name}.npy", face, 40, shape)
        assert residual < 1e-6, name  # metres
        np.testing.assert_allclose(fitted, params, atol=1e-3)
