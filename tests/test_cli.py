"""The command line: nine commands, an example in every --help, honest 'not landed' exits."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from talkface_cli.app import app

runner = CliRunner()
COMMANDS = [
    "prep",
    "train-ede",
    "train-sync",
    "train-emg",
    "animate",
    "swap-emotion",
    "render",
    "eval",
    "models",
]


def test_root_help_lists_the_nine_commands():
    res = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for name in COMMANDS:
        assert f" {name} " in res.output, name


@pytest.mark.parametrize("name", COMMANDS)
def test_every_help_has_an_example(name):
    res = runner.invoke(app, [name, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    assert "Example: talkface " in res.output


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "talkface_cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "swap-emotion" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [(["animate"], "Missing argument 'speech'"), (["animate", "x.wav", "--bogus"], "No such option: --bogus"),
     (["animate", "x.wav", "--temperature", "hot"], "Invalid value for '--temperature'"),
     (["animate", "x.wav", "--temperature", "-1"], "greater than or equal to 0")],
)  # fmt: skip
def test_usage_errors_are_one_message_not_a_traceback(args, message):
    """Through the console entry point (not CliRunner, which runs Typer standalone)."""
    out = subprocess.run([sys.executable, "-m", "talkface_cli", *args], capture_output=True, text=True)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_eval_refuses_an_unknown_split(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "talkface_cli",
            "eval",
            "--emg",
            "emg/x",
            "--data",
            str(tmp_path),
            "--split",
            "tset",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and out.stderr.strip() == "error: --split tset: not one of train, val, test"
