"""Model registry: exact round-trip, refusal of broken entries, the `models` command."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn
from typer.testing import CliRunner

from talkface_cli.app import app
from talkface_cli.errors import TalkfaceError
from talkface_cli.registry import EntryRef, Registry

runner = CliRunner()


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.Linear(7, 3))


def _save(reg: Registry, name: str = "sync/demo"):
    m = _model()
    return m, reg.save(
        name,
        m.state_dict(),
        config={"width": 7},
        meta={"step": 3, "metrics": {"acc": 0.5}, "parents": ["ede/x"]},
    )


def test_round_trip_is_exact_and_cached(talkface_home):
    reg = Registry()
    m, entry = _save(reg)
    assert entry.path == talkface_home / "models" / "sync" / "demo"
    assert sorted(p.name for p in entry.path.iterdir()) == ["config.json", "meta.json", "model.safetensors"]
    state = reg.load_state("sync/demo")
    for k, v in m.state_dict().items():
        assert torch.equal(state[k], v), k
    meta = reg.read("sync/demo").meta
    assert meta["step"] == 3 and meta["parents"] == ["ede/x"] and meta["code_version"]
    a = reg.load_model("sync/demo", "cpu", build=lambda cfg: _model())
    b = reg.load_model("sync/demo", "cpu", build=lambda cfg: pytest.fail("built twice"))
    assert a is b and not a.training


def test_models_and_training_states_load_from_a_folder_named_in_latin1(tmp_path):
    """safetensors' reader takes a path as UTF-8 text and refused a registry under a folder whose
    name is not (an old archive's Latin-1 on Linux): models and training states load from one."""
    from talkface_cli.training.state_io import load_state, save_state

    home = tmp_path / os.fsdecode(b"mod\xe8les")
    try:
        home.mkdir()
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system takes UTF-8 names only")
    reg = Registry(home)
    m = _save(reg)[0]
    assert all(torch.equal(reg.load_state("sync/demo")[k], v) for k, v in m.state_dict().items())
    save_state({"step": 3, "w": torch.arange(4.0)}, home / "train_state")
    state = load_state(home / "train_state")
    assert state["step"] == 3 and torch.equal(state["w"], torch.arange(4.0))


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_saved_files_follow_the_umask(mask):
    # written through temporary names, which tempfile makes private to the owner
    old = os.umask(mask)
    try:
        entry = _save(Registry())[1]
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(entry.path) == 0o777 & ~mask
    assert {mode(p) for p in entry.path.iterdir()} == {0o666 & ~mask}


def test_a_file_written_as_it_is_made_appears_whole_or_not_at_all(tmp_path):
    """`atomic_open` (an hour's .npz, a store's clip): nothing under the final name until the block
    ends; a failure part-way leaves the old file as it was and no temporary file."""
    from talkface_cli.fsutil import atomic_open

    out = tmp_path / "face.npz"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_open(out) as f:
        f.write(b"half of the new")
        assert out.read_bytes() == b"old"
        raise RuntimeError("stopped")
    assert out.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [out]
    with atomic_open(out) as f:
        f.write(b"new")
        f.write(b" file")
    assert out.read_bytes() == b"new file" and sorted(tmp_path.iterdir()) == [out]


def test_a_name_near_the_file_systems_limit_is_written(tmp_path):
    """A long video title, more so in CJK (3 bytes a character), names outputs near the 255 bytes a
    name may have: their temporary siblings, the name and an ending, were refused as "File name too
    long". The temporary name is cut short; files and folders so named are written and replaced."""
    from talkface_cli.fsutil import atomic_dir, atomic_write_bytes

    out, folder = tmp_path / ("語" * 81 + ".npz"), tmp_path / ("語" * 84)  # 247 and 252 bytes
    atomic_write_bytes(out, b"new")
    for n in range(2):
        with atomic_dir(folder, overwrite=True) as tmp:
            (tmp / "x").write_text(str(n))
    assert out.read_bytes() == b"new" and (folder / "x").read_text() == "1"
    assert sorted(tmp_path.iterdir()) == sorted([out, folder])


def _strict(text: str):
    """json.loads that refuses NaN and Infinity, as jq and most parsers outside Python do."""
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_undefined_metrics_are_written_as_null(tmp_path):
    # a spread over one held-out clip is NaN; Python's json would write a bare NaN
    reg = Registry()
    entry = reg.save(
        "sync/nan", _model().state_dict(), config={}, meta={"metrics": {"sep": float("nan"), "a": 1.0}}
    )
    meta = _strict((entry.path / "meta.json").read_text())
    assert meta["metrics"] == {"sep": None, "a": 1.0}
    res = runner.invoke(app, ["models", "show", "sync/nan", "--json", "-"])
    assert res.exit_code == 0 and _strict(res.output)["meta"]["metrics"]["sep"] is None


def test_save_refuses_to_replace_without_overwrite():
    reg = Registry()
    _save(reg)
    with pytest.raises(TalkfaceError, match="already in the registry"):
        _save(reg)


@pytest.mark.parametrize("stage", ["train-ede", "train-sync", "train-emg"])
def test_training_into_a_taken_name_is_refused_before_the_data_is_read(stage, tmp_path):
    """Not after the first pass over the store (minutes of renders and features): the store
    named here does not even exist."""
    _save(Registry(), f"{stage[6:]}/taken")
    parents = ["--ede", "ede/x", "--sync", "sync/y"] if stage == "train-emg" else []
    res = runner.invoke(
        app, [stage, "--data", str(tmp_path / "none"), *parents, "--name", f"{stage[6:]}/taken"]
    )
    assert isinstance(res.exception, TalkfaceError) and "already in the registry" in str(res.exception)


@pytest.mark.parametrize("damage", ["truncate", "no_config", "flip"])
def test_broken_entries_are_refused_with_one_line(damage):
    reg = Registry()
    _, entry = _save(reg)
    weights = entry.path / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:100])
    elif damage == "no_config":
        (entry.path / "config.json").unlink()
    else:
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF
        weights.write_bytes(bytes(data))
    with pytest.raises(TalkfaceError) as e:
        reg.load_state("sync/demo")
    assert "\n" not in str(e.value)
    res = runner.invoke(app, ["models", "show", "sync/demo"], standalone_mode=False)
    assert isinstance(res.exception, TalkfaceError)


def test_cli_errors_are_one_line_and_nonzero(talkface_home):
    import subprocess
    import sys

    _save(Registry())
    (talkface_home / "models" / "sync" / "demo" / "config.json").unlink()
    for args in (["models", "show", "sync/demo"], ["models", "show", "foo/bar"]):
        out = subprocess.run(
            [sys.executable, "-m", "talkface_cli", *args],
            capture_output=True,
            text=True,
            env={**__import__("os").environ, "COLUMNS": "200"},
        )
        assert out.returncode == 1
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), out.stderr
        assert "Traceback" not in out.stderr
    assert (
        "config.json: missing"
        in subprocess.run(
            [sys.executable, "-m", "talkface_cli", "models", "show", "sync/demo"],
            capture_output=True,
            text=True,
        ).stderr
    )


def test_unknown_kind_and_bad_names():
    for bad in ("foo/bar", "ede", "ede/../x", "ede/"):
        with pytest.raises(TalkfaceError):
            EntryRef.parse(bad)


def test_models_list_table_and_json(tmp_path):
    reg = Registry()
    _save(reg, "sync/a")
    _save(reg, "ede/b")
    (reg.path("ede/b") / "meta.json").write_text("{not json")
    res = runner.invoke(app, ["models", "list"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    assert "sync/a" in res.output and "ede/b" in res.output and "not valid" in res.output
    out = tmp_path / "models.json"
    res = runner.invoke(app, ["models", "list", "--json", str(out)])
    rows = json.loads(out.read_text())
    status = {r["name"]: r["status"] for r in rows}
    assert status["sync/a"] == "ok" and "meta.json: not valid JSON" in status["ede/b"]
    assert rows[[r["name"] for r in rows].index("sync/a")]["metrics"] == {"acc": 0.5}
    res = runner.invoke(app, ["models", "list", "--json", "-"])
    assert json.loads(res.output)[0]["name"] in ("ede/b", "sync/a")


def test_models_remove():
    import subprocess
    import sys

    reg = Registry()
    _save(reg)
    # answering no exits 1 and keeps the entry (Typer hands typer.Exit's code back, not raise it)
    out = subprocess.run(
        [sys.executable, "-m", "talkface_cli", "models", "remove", "sync/demo"],
        input="n\n",
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and reg.path("sync/demo").is_dir()
    # an EMG trained with it loads it: the expert stays till the EMG goes, and a missing parent is named
    meta = {"ede": "ede/gone", "sync": "sync/demo", "parents": ["ede/gone", "sync/demo"]}
    reg.save("emg/child", _model().state_dict(), config={}, meta=meta)
    res = runner.invoke(app, ["models", "remove", "sync/demo", "--yes"])
    assert isinstance(res.exception, TalkfaceError) and reg.path("sync/demo").is_dir()
    assert str(res.exception) == "sync/demo: emg/child needs it (trained with it); remove it first"
    with pytest.raises(TalkfaceError, match="^emg/child: trained with ede/gone, which is no longer in "):
        reg.parent(reg.read("emg/child"), "ede")
    assert str(reg.parent(reg.read("emg/child"), "sync")) == "sync/demo"
    assert runner.invoke(app, ["models", "remove", "emg/child", "--yes"]).exit_code == 0
    _save(reg, "ede/other")  # for a script: asked on stderr, answered, the JSON alone on stdout
    out = subprocess.run(
        [sys.executable, "-m", "talkface_cli", "models", "remove", "ede/other", "--json", "-"],
        input="y\n",
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "remove ede/other (" in out.stderr, out.stderr
    assert json.loads(out.stdout) == {"removed": "ede/other", "path": str(reg.path("ede/other"))}
    res = runner.invoke(app, ["models", "remove", "sync/demo", "--yes"])
    assert res.exit_code == 0 and not reg.path("sync/demo").exists()


def test_the_code_version_tells_an_edited_checkout_from_its_commit(tmp_path):
    """Outputs and models record it: an edited checkout's work is not taken for its commit's."""
    import subprocess

    from talkface_cli.registry import checkout_state

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True)

    assert checkout_state(tmp_path) is None  # not a checkout
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("x = 1\n")
    (tmp_path / "README").write_text("docs")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "c")
    clean = checkout_state(tmp_path / "pkg")
    assert clean is not None and clean.startswith("g") and ".edited" not in clean
    (tmp_path / "README").write_text("docs, edited")  # outside the package: the code is the same
    assert checkout_state(tmp_path / "pkg") == clean
    (tmp_path / "pkg" / "m.py").write_text("x = 2\n")
    one = checkout_state(tmp_path / "pkg")
    (tmp_path / "pkg" / "m.py").write_text("x = 3\n")
    two = checkout_state(tmp_path / "pkg")
    assert one.startswith(f"{clean}.edited") and two.startswith(f"{clean}.edited") and one != two
    (tmp_path / "pkg" / "m.py").write_text("x = 1\n")
    assert checkout_state(tmp_path / "pkg") == clean


def test_a_model_of_another_kind_is_one_line(use_chain, tmp_path):
    """An EDE given where a sync expert is wanted was built from its config and met an attribute
    the EDE's config lacks: a traceback from train-emg, eval and prep validate alike."""
    _, store, _ = use_chain
    wav = tmp_path / "s.wav"
    sf.write(wav, np.zeros(16000, np.float32), 16000)
    cases = {
        (
            "prep",
            "validate",
            str(store),
            "--sync",
            "ede/t",
        ): "ede/t: a model of kind ede, where one of kind sync",
        ("train-emg", "--data", str(store), "--ede", "sync/t", "--sync", "sync/t", "--name", "emg/x"): (
            "sync/t: a model of kind sync, where one of kind ede"
        ),
        ("eval", "--emg", "emg/t", "--data", str(store), "--emotion-features", "sync/t"): (
            "sync/t: a model of kind sync, where one of kind ede"
        ),
        ("animate", str(wav), "--model", "ede/t", "--out", str(tmp_path / "o.npz")): (
            "ede/t: a model of kind ede, where one of kind emg (emg/NAME) is needed"
        ),
    }
    for cmd, said in cases.items():
        r = runner.invoke(app, list(cmd))
        assert r.exit_code != 0 and str(r.exception).startswith(said), (cmd, r.output, r.exception)
    assert not (Registry().path("emg/x")).exists()
