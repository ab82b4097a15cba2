"""Trained models moved between registries: `models export` / `models import` carry an EMG with the
EDE and sync expert it was trained with, checked; an EMG refuses a parent of other weights."""

from __future__ import annotations

import io
import json
import shutil
import tarfile

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from talkface_cli.app import app
from talkface_cli.errors import TalkfaceError
from talkface_cli.registry import Registry


def _run(*args):
    return CliRunner().invoke(app, list(map(str, args)), env={"COLUMNS": "200"})


def _animate(home, tmp_path, name: str, model: str = "emg/t") -> np.ndarray:
    from talkface_cli.face.sequence import load_sequence

    audio = np.sin(np.linspace(0, 900, 16000)).astype(np.float32) * np.hanning(16000).astype(np.float32)
    wav = tmp_path / "speech.wav"
    if not wav.exists():
        import soundfile as sf

        sf.write(wav, audio, 16000)
    res = CliRunner().invoke(
        app, ["animate", str(wav), "--model", model, "--out", str(tmp_path / f"{name}.npz")],
        env={"TALKFACE_HOME": str(home), "COLUMNS": "200"},
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return load_sequence(tmp_path / f"{name}.npz").params


def _exported(use_chain, tmp_path):
    home, _, _ = use_chain
    args = ["models", "export", "emg/t", "--out", tmp_path / "emg-t.tar", "--json", tmp_path / "e.json"]
    res = CliRunner().invoke(app, list(map(str, args)), env={"TALKFACE_HOME": str(home)})
    assert res.exit_code == 0, res.output
    return tmp_path / "emg-t.tar"


def test_a_model_moves_to_another_registry_with_what_it_was_trained_with(
    use_chain, tmp_path, talkface_home, monkeypatch
):
    home, _, _ = use_chain
    archive = _exported(use_chain, tmp_path)
    info = json.loads((tmp_path / "e.json").read_text())
    assert [m["model"] for m in info["models"]] == ["ede/t", "sync/t", "emg/t"]  # parents first
    monkeypatch.setenv("TALKFACE_HOME", str(talkface_home))  # another, empty registry
    res = _run("models", "import", archive, "--json", tmp_path / "i.json")
    assert res.exit_code == 0, res.output
    assert [m["status"] for m in json.loads((tmp_path / "i.json").read_text())["models"]] == ["imported"] * 3
    for name in ("ede/t", "sync/t", "emg/t"):
        for f in ("model.safetensors", "config.json", "report.json", "trained_clips.json"):
            assert (talkface_home / "models" / name / f).read_bytes() == (
                home / "models" / name / f
            ).read_bytes()
    # the same face from the same speech, in either registry
    assert np.array_equal(_animate(talkface_home, tmp_path, "b"), _animate(home, tmp_path, "a"))
    again = _run("models", "import", archive, "--json", tmp_path / "i2.json")
    assert again.exit_code == 0, again.output
    assert [m["status"] for m in json.loads((tmp_path / "i2.json").read_text())["models"]] == [
        "already there"
    ] * 3
    # unnamed, an export goes into the current folder, numbered rather than replacing
    monkeypatch.chdir(tmp_path)
    assert _run("models", "export", "emg/t").exit_code == 0
    assert _run("models", "export", "emg/t").exit_code == 0
    assert (tmp_path / "emg-t-2.tar").is_file() and (tmp_path / "emg-t-3.tar").is_file()
    assert "a model archive is a .tar" in str(_run("models", "export", "emg/t", "--out", "m.zip").exception)


def test_a_clash_installs_nothing_and_prefix_imports_beside_it(
    use_chain, tmp_path, talkface_home, monkeypatch
):
    from talkface_cli.inference.animate import Animator

    archive = _exported(use_chain, tmp_path)
    monkeypatch.setenv("TALKFACE_HOME", str(talkface_home))
    reg = Registry()
    reg.save("ede/t", {"w": torch.ones(3)}, config={"other": 1})  # someone else's ede/t
    res = _run("models", "import", archive)
    assert "ede/t" in str(res.exception) and "--prefix" in str(res.exception)
    assert sorted(p.name for p in (talkface_home / "models").iterdir()) == ["ede"]  # nothing installed
    assert _run("models", "import", archive, "--prefix", "theirs-").exit_code == 0
    emg = reg.read("emg/theirs-t")
    assert emg.meta["ede"] == "ede/theirs-t" and emg.meta["parents"] == ["ede/theirs-t", "sync/theirs-t"]
    assert set(emg.meta["parent_sha256"]) == {"ede/theirs-t", "sync/theirs-t"}
    assert str(reg.parent(emg, "ede")) == "ede/theirs-t"
    assert Animator.load("emg/theirs-t", torch.device("cpu")).ede is reg.load_model("ede/theirs-t", "cpu")
    assert "--prefix" in str(_run("models", "import", archive, "--prefix", "-x").exception)


def _rewrite(archive, out, change):
    """A copy of `archive` with `change(name, data) -> (name, data)` applied to each member."""
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for m in src.getmembers():
            name, data = change(m.name, src.extractfile(m).read())
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    return out


def _flip_weights(name, data):
    if name == "emg/t/model.safetensors":
        data = data[:-1] + bytes([data[-1] ^ 0xFF])
    return name, data


def _escape(name, data):
    if name == "talkface-models.json":
        index = json.loads(data)
        index["entries"][0]["files"].append("../../evil")
        data = json.dumps(index).encode()
    return name, data


@pytest.mark.parametrize("damage", ["weights", "escape", "not a tar", "no index", "link", "cut short"])
def test_a_damaged_or_foreign_archive_is_refused_with_one_line_and_installs_nothing(
    use_chain, tmp_path, talkface_home, monkeypatch, damage
):
    archive = _exported(use_chain, tmp_path)
    bad = tmp_path / "bad.tar"
    if damage == "weights":
        _rewrite(archive, bad, _flip_weights)
    elif damage == "escape":
        _rewrite(archive, bad, _escape)
    elif damage == "not a tar":
        bad.write_bytes(b"safetensors? no" * 100)
    elif damage == "cut short":  # a copy or download that stopped part of the way
        bad.write_bytes(archive.read_bytes()[: archive.stat().st_size * 3 // 5])
    elif damage == "no index":
        _rewrite(archive, bad, lambda n, d: (n.replace("talkface-models.json", "x.json"), d))
    else:
        shutil.copy(archive, bad)
        with tarfile.open(bad, "a") as tar:  # a link where the index names a file: listed last wins
            info = tarfile.TarInfo("ede/t/report.json")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    monkeypatch.setenv("TALKFACE_HOME", str(talkface_home))
    res = _run("models", "import", bad)
    assert isinstance(res.exception, TalkfaceError), res.output
    message = str(res.exception)
    assert "\n" not in message and str(bad) in message
    expected = {"weights": "corrupt", "escape": "a name no model file has",
                "not a tar": "not a talkface model archive", "no index": "no talkface-models.json",
                "link": "not a plain file", "cut short": "truncated or damaged"}[damage]  # fmt: skip
    assert expected in message
    assert not (talkface_home / "models").exists() or not any((talkface_home / "models").rglob("*.json"))
    assert not (tmp_path / "evil").exists()


def test_an_emg_refuses_a_parent_of_other_weights_under_its_name(
    use_chain, tmp_path, talkface_home, monkeypatch
):
    from talkface_cli.inference.animate import Animator

    home, _, _ = use_chain
    shutil.copytree(home / "models", talkface_home / "models")  # a registry copied by hand
    monkeypatch.setenv("TALKFACE_HOME", str(talkface_home))
    reg = Registry()
    ede = reg.read("ede/t")
    state = {k: v + 0.01 for k, v in reg.load_state("ede/t").items()}  # retrained elsewhere, say
    reg.save("ede/t", state, config=ede.config, meta=ede.meta, overwrite=True)
    with pytest.raises(TalkfaceError, match="trained with another ede/t"):
        Animator.load("emg/t", torch.device("cpu"))
    import soundfile as sf

    sf.write(tmp_path / "x.wav", np.zeros(8000, np.float32), 16000)
    assert "trained with another ede/t" in str(
        _run("animate", tmp_path / "x.wav", "--model", "emg/t").exception
    )
    # an EMG trained before it recorded its parents' weights is taken as it is
    meta_path = talkface_home / "models" / "emg" / "t" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({k: v for k, v in meta.items() if k != "parent_sha256"}))
    Animator.load("emg/t", torch.device("cpu"))
