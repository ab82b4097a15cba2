"""Options and helpers shared by the command modules."""

from __future__ import annotations

import typer

DeviceOpt = typer.Option(
    None, "--device", help="cuda, cuda:1, mps or cpu (default: CUDA, then MPS, then CPU)"
)
JsonOpt = typer.Option(
    None, "--json", help="also write the results as JSON to this file ('-': the JSON alone on stdout)"
)
SetOpt = typer.Option(None, "--set", help="override a config value, e.g. --set train.lr=1e-4 (repeatable)")
PresetOpt = typer.Option("tiny", "--preset", help="named config preset: tiny (tests, CPU demos) or paper")
ResumeOpt = typer.Option(False, "--resume", help="continue the run in --run-dir from its latest checkpoint")
RunDirOpt = typer.Option(None, "--run-dir", help="run folder (default: $TALKFACE_HOME/runs/KIND/NAME)")
