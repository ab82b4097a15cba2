"""The command line: nine commands, an example in every --help, honest 'not landed' exits."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import time

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
    assert re.search(r"^ Example: talkface ", res.output, re.M), res.output  # at the margin, not indented


def test_every_command_can_write_its_results_as_json_for_a_script():
    """README: `--json FILE` writes the results as JSON too, `--json -` alone on stdout."""
    import typer

    def leaves(command, path):
        subs = getattr(command, "commands", None)
        if not subs:
            yield path, command
        for name, sub in (subs or {}).items():
            yield from leaves(sub, f"{path} {name}".strip())

    found = dict(leaves(typer.main.get_command(app), ""))
    assert {"eval", "animate", "prep ravdess", "models remove"} <= set(found)
    assert [p for p, c in found.items() if not any("--json" in o.opts for o in c.params)] == []


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "talkface_cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "swap-emotion" in out.stdout


def test_version_says_what_a_bug_report_needs():
    import torch

    from talkface_cli import __version__

    out = subprocess.run([sys.executable, "-m", "talkface_cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    python, installed = sys.version.split()[0], importlib.metadata.version("talkface")
    assert installed == __version__  # the package's metadata and the module say one version
    assert out.stdout.startswith(f"talkface {__version__} (python {python}, torch {torch.__version__}, ")


@pytest.mark.parametrize(
    "args, message",
    [(["animate"], "Missing argument 'speech'"), (["animate", "x.wav", "--bogus"], "No such option: --bogus"),
     (["animate", "x.wav", "--temperature", "hot"], "Invalid value for '--temperature'"),
     (["animate", "x.wav", "--temperature", "-1"], "greater than or equal to 0"),
     # inf wrote NaN faces; a 20-digit seed was torch's traceback, a negative one numpy's
     (["animate", "x.wav", "--temperature", "inf"], "'--temperature': not a finite number"),
     (["swap-emotion", "x.wav", "y.wav", "--temperature", "inf"], "not a finite number"),
     (["animate", "x.wav", "--seed", "99999999999999999999"], "less than or equal to 4294967295"),
     (["prep", "synthetic", "--seed", "-5"], "'--seed': Input should be greater than or equal to 0"),
     (["eval", "--seed", "-1"], "'--seed': Input should be greater than or equal to 0"),
     (["eval", "--limit", "-1"], "'--limit': Input should be greater"),  # scored all clips but the last
     (["eval", "--examples", "-1"], "'--examples': Input should be greater"),
     (["prep", "folder", "x", "--max-miss", "7"], "less than or equal to 1"),  # a fraction
     (["prep", "folder", "x", "--jobs", "0"], "'--jobs' / '-j': Input should be greater than or equal to 1"),
     (["prep", "import", "x", "--format", "etf", "--fps", "0"], "'--fps': use a frame rate above 0"),
     (["prep", "import", "x", "--format", "etf", "--fps", "inf"], "'--fps': use a frame rate above 0")],
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


@pytest.mark.parametrize(
    "args",
    [["animate", "s.wav", "--out", "F/x.npz"], ["animate", "s.wav", "--out", "x.npz", "--render", "F/x.mp4"],
     ["swap-emotion", "s.wav", "e.wav", "--out", "x.npz", "--json", "F/x.json"],
     ["render", "x.npz", "--format", "mesh", "--out", "F/meshes"], ["render", "x.npz", "--out", "F/x.mp4"],
     ["render", "x.npz", "--format", "csv", "--out", "F/x.csv"], ["prep", "synthetic", "--out", "F/store"],
     ["train-sync", "--data", "store", "--name", "sync/x", "--run-dir", "F/run"],
     ["--home", "F/h", "train-emg", "--data", "s", "--ede", "e/a", "--sync", "s/b", "--name", "emg/x"],
     ["eval", "--emg", "emg/x", "--data", "store", "--out", "F/report"]],
)  # fmt: skip
def test_an_output_that_cannot_be_written_is_refused_before_any_work(tmp_path, monkeypatch, args):
    """An output under a file (F is one): one line naming both, before any input is read (the
    inputs here do not exist) and nothing created."""
    from talkface_cli.errors import TalkfaceError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "F").write_text("a file")
    res = runner.invoke(app, args, standalone_mode=False)
    assert isinstance(res.exception, TalkfaceError)
    assert str(res.exception).endswith(f": {tmp_path / 'F'} is a file, where a folder is needed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["F"]


@pytest.mark.parametrize("more", [[], ["--emotion-from", "ref.wav"]])
def test_an_intensity_without_a_label_is_refused(tmp_path, monkeypatch, more):
    """`--intensity` scales a label's emotion; without --emotion it was dropped without a word."""
    from talkface_cli.errors import TalkfaceError

    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["animate", "s.wav", "--intensity", "0.5", *more], standalone_mode=False)
    assert isinstance(res.exception, TalkfaceError) and str(res.exception) == (
        "--intensity 0.5: only with --emotion LABEL (an emotion read from speech or a reference keeps "
        "its own strength)"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_folder_where_the_output_file_goes_is_refused(tmp_path, monkeypatch):
    from talkface_cli.errors import TalkfaceError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.npz").mkdir()
    res = runner.invoke(app, ["animate", "s.wav", "--out", "x.npz"], standalone_mode=False)
    assert isinstance(res.exception, TalkfaceError) and "x.npz: a folder, where a file" in str(res.exception)


def test_an_earlier_output_is_found_by_its_record_under_its_own_or_a_numbered_name(tmp_path):
    import numpy as np

    from talkface_cli.face.sequence import ParamSequence, stored_made_by
    from talkface_cli.fsutil import Output

    seq = ParamSequence(np.zeros((3, 2), np.float32), ["a", "b"])
    seq.save(tmp_path / "x.npz", "one")
    seq.save(tmp_path / "x-3.npz", "two")
    seq.save(tmp_path / "x-a.npz", "three")  # not one of x.npz's numbered names
    (tmp_path / "x-2.npz").write_text("not an npz")
    np.save(tmp_path / "y.npz.npy", np.zeros(2))
    (tmp_path / "y.npz").write_bytes((tmp_path / "y.npz.npy").read_bytes())  # a .npy under .npz's name
    seq.save(tmp_path / "z.npz")  # written by older code: no record
    assert [stored_made_by(tmp_path / n) for n in ("x.npz", "x-2.npz", "y.npz", "z.npz")] == [
        "one",
        *[None] * 3,
    ]
    folder = Output(tmp_path, True)
    found = {r: folder.made_before("x.npz", r, stored_made_by) for r in ("one", "two", "three", "four")}
    assert found == {"one": tmp_path / "x.npz", "two": tmp_path / "x-3.npz", "three": None, "four": None}
    assert Output(tmp_path / "x.npz").made_before("x.npz", "one", stored_made_by) is None  # named: remade
    assert Output(tmp_path / "new", True).made_before("x.npz", "one", stored_made_by) is None


def test_file_system_errors_are_one_line(monkeypatch, capsys):
    """A full disk (or any refusal of the file system) met mid-work: one line naming the file, exit 1."""
    import errno

    import talkface_cli.app as cli

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/.x.npz.tmp")

    monkeypatch.setattr(cli, "app", full)
    with pytest.raises(SystemExit) as e:
        cli.main()
    assert e.value.code == 1
    assert capsys.readouterr().err.strip() == "error: /data/.x.npz.tmp: No space left on device"


# no torchrun; the first and the second process on the second machine of a run of 2 x 2
@pytest.mark.parametrize("local_rank, rank", [(None, None), ("0", "2"), ("1", "3")])
def test_torchrun_processes_beside_the_first_leave_bars_and_stop_lines_to_it(
    local_rank, rank, monkeypatch, capsys
):
    """Ctrl-C reaches every process of a torchrun run: each printed the stop line, the second across
    the first's progress bar, and each drew its own bars. Now a process other than the first on its
    machine shows no bars and no stop line, and names its rank in any other error."""
    import talkface_cli.app as cli
    from talkface_cli.errors import TalkfaceError
    from talkface_cli.ui import progress

    monkeypatch.delenv("TALKFACE_NO_PROGRESS", raising=False)
    for name, value in {"LOCAL_RANK": local_rank, "RANK": rank}.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    side = local_rank == "1"
    assert progress().disable == side

    def raising(error):
        def run(*a, **k):
            raise error

        return run

    said = []
    for error, code in [
        (TalkfaceError("emg/x: training interrupted; ...", exit_code=130), 130),
        (TalkfaceError("emg/x: training terminated; ...", exit_code=143), 143),
        (TalkfaceError("data/x: not a clip store"), 1),
    ]:
        monkeypatch.setattr(cli, "app", raising(error))
        with pytest.raises(SystemExit) as e:
            cli.main()
        assert e.value.code == code
        said.append(capsys.readouterr().err.strip())
    monkeypatch.setattr(cli, "app", lambda **k: 130)  # Typer's code for Ctrl-C outside training
    with pytest.raises(SystemExit):
        cli.main()
    said.append(capsys.readouterr().err.strip())
    if side:
        assert said == ["", "", "error: rank 3: data/x: not a clip store", ""]
    else:
        assert said == [
            "error: emg/x: training interrupted; ...",
            "error: emg/x: training terminated; ...",
            "error: data/x: not a clip store",
            "error: interrupted",
        ]


@pytest.mark.parametrize(
    "sig, code, message, local_rank",
    [("SIGINT", 130, "interrupted", "0"), ("SIGTERM", 143, "terminated", "0"), ("SIGINT", 130, None, "1")],
)
def test_a_stop_while_the_libraries_load_is_one_line(sig, code, message, local_rank):
    """Ctrl-C or SIGTERM in the second torch takes to load: exit 130 / 143 with one line, as later
    (before, Ctrl-C printed a traceback and SIGTERM killed the program without a word); none from a
    torchrun process beside the first, which says it."""
    code_text = (
        "import os, signal, sys\n"
        "class Stop:\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'torch' and sys.meta_path[0] is self:\n"
        "            sys.meta_path.remove(self)\n"
        f"            os.kill(os.getpid(), signal.{sig})\n"
        "sys.meta_path.insert(0, Stop())\n"
        "sys.argv = ['talkface', '--help']\n"
        "from talkface_cli.entry import main\n"
        "main()\n"
    )
    env = {**os.environ, "LOCAL_RANK": local_rank}
    out = subprocess.run(
        [sys.executable, "-c", code_text], capture_output=True, text=True, timeout=120, env=env
    )
    said = [f"error: {message}"] if message else []
    assert (out.returncode, out.stderr.strip().splitlines(), out.stdout) == (code, said, "")


def test_a_bar_done_in_one_step_shows_its_rate():
    """A pass done in one step (a short recording's motion, one window) had no rate measured by
    rich: "? frame/s". Its rate is then what it did over the time it took."""
    from rich.progress import Progress

    from talkface_cli.ui import RateColumn

    bar = Progress()
    one = bar.add_task("one step", total=4104, unit="frame")
    bar.start_task(one)
    time.sleep(0.05)
    bar.advance(one, 4104)
    task = bar.tasks[0]
    assert task.finished and not task.speed
    shown = str(RateColumn().render(task))
    assert 4104 / 1.0 < float(shown.split()[0]) < 4104 / 0.05 + 1  # between a second and the 0.05 s slept
    time.sleep(0.1)  # the bar's other passes go on: its rate stays that of its own time
    assert str(RateColumn().render(task)) == shown
    bar.add_task("waiting", total=3)
    assert str(RateColumn().render(bar.tasks[1])).strip() == "?   it/s"  # not done: no rate made up
