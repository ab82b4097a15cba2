"""Speech piped in as '-' (`espeak-ng --stdout "hi" | talkface animate -`), as shell scripts give it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from talkface_cli.errors import TalkfaceError

RAVDESS = "data/ravdess/Audio_Speech_16k/Actor_01"


def piped(data: bytes, *args: object):  # noqa: ANN202
    from talkface_cli.app import app

    return CliRunner().invoke(app, list(map(str, args)), input=data, env={"COLUMNS": "200"})


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """The folder temporary files go to, to see that none is left."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    return tmp_path / "tmp"


def test_speech_piped_in_is_animated_as_its_file_is(use_chain, tmp_path, monkeypatch, shared, scratch):
    from talkface_cli.audio.io import ffmpeg_exe
    from talkface_cli.face.sequence import load_sequence

    flac, other = sorted(shared.glob(f"{RAVDESS}/*.flac"))[:2]
    monkeypatch.chdir(tmp_path)
    assert piped(b"", "animate", flac, "--speaker", "2", "--out", "file.npz").exit_code == 0
    res = piped(flac.read_bytes(), "animate", "-", "--speaker", "2", "--json", "r.json")
    assert res.exit_code == 0 and "to see it: talkface render stdin.npz" in res.output, res.output
    assert json.loads((tmp_path / "r.json").read_text())[0]["speech"] == "-"
    np.testing.assert_array_equal(load_sequence("stdin.npz").params, load_sequence("file.npz").params)
    mp3 = subprocess.run(  # a format whose reader needs ffmpeg: the copy has no suffix to go by
        [ffmpeg_exe(), "-v", "error", "-i", str(flac), "-f", "mp3", "-"], capture_output=True, check=True
    ).stdout
    (tmp_path / "speech.mp3").write_bytes(mp3)
    assert piped(b"", "animate", "speech.mp3", "--speaker", "2").exit_code == 0
    res = piped(mp3, "animate", "-", "--speaker", "2", "--out", "mp3.npz")
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(load_sequence("mp3.npz").params, load_sequence("speech.npz").params)

    assert piped(b"", "swap-emotion", flac, other, "--out", "swap.npz").exit_code == 0
    for args in (["-", other], [flac, "-"]):  # the content piped in, or the reference
        data = (flac if args[0] == "-" else other).read_bytes()
        res = piped(data, "swap-emotion", *args, "--out", "piped.npz", "--json", "s.json")
        assert res.exit_code == 0, res.output
        np.testing.assert_array_equal(load_sequence("piped.npz").params, load_sequence("swap.npz").params)
        assert json.loads((tmp_path / "s.json").read_text())[0]["speech"] == str(args[0])
        (tmp_path / "piped.npz").unlink()
    assert list(scratch.iterdir()) == []  # the copies of standard input are gone


def test_a_bad_pipe_is_one_line(use_chain, tmp_path, monkeypatch, shared, scratch):
    monkeypatch.chdir(tmp_path)
    flac = next(shared.glob(f"{RAVDESS}/*.flac"))
    cases = [
        (b"", ["animate", "-"], "-: nothing came in on standard input"),
        (
            flac.read_bytes(),
            ["animate", "-", "-"],
            "-: standard input is read once; give '-' for one input only",
        ),
        (b"not audio", ["animate", "-"], "-: not a readable audio file"),
        (b"not audio", ["swap-emotion", "-", flac], "-: not a readable audio file"),
    ]
    for data, args, message in cases:
        res = piped(data, *args)
        assert isinstance(res.exception, TalkfaceError) and str(res.exception).startswith(message), args
    res = piped(b"not audio", "animate", flac, "-", "--out", "faces")  # one of several: said, the rest made
    assert res.exit_code == 1 and "error: -: not a readable audio file (" in res.stderr
    assert [p.name for p in (tmp_path / "faces").iterdir()] == [f"{flac.stem}.npz"]
    assert list(scratch.iterdir()) == []


def test_a_terminal_is_not_read_as_speech(monkeypatch):
    from talkface_cli.commands.piped import stdin_read

    class Terminal(io.BytesIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal())
    with pytest.raises(TalkfaceError, match=r"^-: standard input is a terminal; pipe speech into it"):
        with stdin_read([Path("-")]):
            pass


def fifo(path: Path, data: bytes) -> Path:
    """A named pipe at `path` through which a thread writes `data` once it is opened (mkfifo)."""
    os.mkfifo(path)

    def write() -> None:
        with open(path, "wb") as f:
            f.write(data)

    threading.Thread(target=write, daemon=True).start()
    return path


def test_a_pipe_given_by_name_is_read_as_standard_input_is(use_chain, tmp_path, monkeypatch, shared, scratch):
    """Shell scripts give speech as bash's `<(...)` (/dev/fd/63) or a named pipe; both exist but
    are not files, and were refused as "no such file". Each is read once into a temporary copy, as
    '-' is; a named pipe's outputs keep its name."""
    from talkface_cli.face.sequence import load_sequence

    flac, other = sorted(shared.glob(f"{RAVDESS}/*.flac"))[:2]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipes").mkdir()
    assert piped(b"", "animate", flac, "--speaker", "2", "--out", "file.npz").exit_code == 0
    res = piped(b"", "animate", fifo(tmp_path / "pipes/speech.flac", flac.read_bytes()), "--speaker", "2")
    assert res.exit_code == 0 and "to see it: talkface render speech.npz" in res.output, res.output
    np.testing.assert_array_equal(load_sequence("speech.npz").params, load_sequence("file.npz").params)

    script = 'exec "$0" -m talkface_cli animate <(cat "$1") --speaker 2 --out sub.npz --json sub.json'
    env = os.environ | {"TALKFACE_NO_PROGRESS": "1"}  # TALKFACE_HOME: the chain's models
    done = subprocess.run(
        ["bash", "-c", script, sys.executable, flac], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "sub.json").read_text())[0]["speech"].startswith("/dev/fd/")
    np.testing.assert_array_equal(load_sequence("sub.npz").params, load_sequence("file.npz").params)

    assert piped(b"", "swap-emotion", flac, other, "--out", "swap.npz").exit_code == 0
    content, ref = (
        fifo(tmp_path / "pipes/c.flac", flac.read_bytes()),
        fifo(tmp_path / "pipes/r", other.read_bytes()),
    )
    res = piped(b"", "swap-emotion", content, ref, "--out", "both.npz")
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(load_sequence("both.npz").params, load_sequence("swap.npz").params)

    empty = fifo(tmp_path / "pipes/empty.wav", b"")
    res = piped(b"", "animate", empty)
    assert isinstance(res.exception, TalkfaceError)
    assert str(res.exception) == f"{empty}: nothing came in through the pipe"
    res = piped(b"", "render", fifo(tmp_path / "pipes/face.npz", b"x"))  # a command that reads files only
    assert str(res.exception).startswith(f"{tmp_path / 'pipes/face.npz'}: not a file but a pipe or a device")
    assert list(scratch.iterdir()) == []  # the copies are gone
