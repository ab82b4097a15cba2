"""The `talkface` command line: registers the subcommands, nothing else."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import typer

from . import __version__
from .commands import animate, evaluate, models, prep, render, train
from .errors import STOP_CODES, TalkfaceError, Terminated, os_error_line
from .ui import console, error

app = typer.Typer(
    name="talkface",
    help="Speech to an emotional, lip-synced 3D talking face (EcoFace).\n\n"
    "Example: talkface animate speech.wav --speaker 3 --out face.npz --render face.mp4",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(wanted: bool) -> None:
    """`--version`: what a bug report needs, talkface's version and what it runs on."""
    if not wanted:
        return
    import platform

    import torch

    from .device import resolve_device

    print(
        f"talkface {__version__} (python {platform.python_version()}, torch {torch.__version__}, "
        f"device {resolve_device().type})"
    )
    raise typer.Exit()


@app.callback()
def _root(
    home: Path = typer.Option(
        None, "--home", help="registry and run folder (default: $TALKFACE_HOME or ~/.talkface)"
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    if home is not None:
        os.environ["TALKFACE_HOME"] = str(home)
    console.stderr = False  # until a command's `--json -` takes stdout (ui.json_target)


app.add_typer(prep.app, name="prep")
app.command("train-ede")(train.train_ede)
app.command("train-sync")(train.train_sync)
app.command("train-emg")(train.train_emg)
app.command("animate")(animate.animate)
app.command("swap-emotion")(animate.swap_emotion)
app.command("render")(render.command)
app.command("eval")(evaluate.command)
app.add_typer(models.app, name="models")


def main() -> None:
    """Run the command line (`entry.main` has set up the stop signals): user errors become one
    line on stderr and a non-zero exit code."""
    try:
        # not standalone, Typer returns the code of typer.Exit and turns Ctrl-C into 130, not raise
        code = app(standalone_mode=False)
    except TalkfaceError as e:
        error(str(e), stop=e.exit_code in STOP_CODES)
        sys.exit(e.exit_code)
    except typer.Abort:
        error("aborted")
        sys.exit(1)
    except typer.TyperException as e:  # usage: missing argument, unknown option, bad value, no args
        if hasattr(e, "show"):
            e.show()  # Typer's usage line and one "Error: ..." line
        else:
            error(str(e))
        sys.exit(getattr(e, "exit_code", 2))
    except OSError as e:
        if os.environ.get("TALKFACE_DEBUG"):
            raise
        error(os_error_line(e))
        sys.exit(1)
    except Terminated:
        error("terminated", stop=True)
        sys.exit(128 + signal.SIGTERM)
    if isinstance(code, int) and code:
        if code == 130:
            error("interrupted", stop=True)
        sys.exit(code)
