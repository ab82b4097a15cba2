"""`talkface models`: list, show and remove registry entries."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..registry import Entry, Registry
from ..ui import console, emit, json_target, table
from .common import JsonOpt

app = typer.Typer(
    help="List, show and remove models in the registry ($TALKFACE_HOME/models).\n\n"
    "Example: talkface models list --json models.json",
    no_args_is_help=True,
)


def _row(e: Entry | tuple) -> dict:
    if isinstance(e, Entry):
        m = e.meta
        return {
            "name": str(e.ref),
            "created": m.get("created"),
            "step": m.get("step"),
            "metrics": m.get("metrics", {}),
            "parents": m.get("parents", []),
            "code_version": m.get("code_version"),
            "path": str(e.path),
            "status": "ok",
        }
    ref, problem = e
    return {
        "name": str(ref),
        "created": None,
        "step": None,
        "metrics": {},
        "parents": [],
        "code_version": None,
        "path": None,
        "status": problem,
    }


@app.command("list")
def list_models(
    json_out: Path = JsonOpt,
) -> None:
    """List every model in the registry as a table.

    Example: talkface models list --json -
    """
    json_target(json_out)
    reg = Registry()
    rows = [_row(e) for e in reg.list()]

    def metric(r: dict) -> str:
        return ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in list(r["metrics"].items())[:4]
        )

    listed = [[r["name"], r["created"], r["step"], metric(r), r["status"]] for r in rows]
    emit(
        json_out,
        rows,
        table(f"models in {reg.home}", ["name", "created", "step", "metrics", "status"], listed),
    )


@app.command("show")
def show(
    name: str = typer.Argument(..., help="KIND/NAME, e.g. ede/ravdess"),
    json_out: Path = JsonOpt,
) -> None:
    """Show one entry's meta data and config (after checking its weights).

    Example: talkface models show ede/ravdess
    """
    json_target(json_out)
    entry = Registry().verify(name)
    obj = {"name": str(entry.ref), "path": str(entry.path), "meta": entry.meta, "config": entry.config}
    fields = [[k, json.dumps(v) if isinstance(v, (dict, list)) else v] for k, v in entry.meta.items()]
    emit(json_out, obj, table(str(entry.ref), ["field", "value"], fields))


@app.command("remove")
def remove(
    name: str = typer.Argument(..., help="KIND/NAME"),
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation"),
) -> None:
    """Delete one entry from the registry (its folder under $TALKFACE_HOME/models only).

    Example: talkface models remove emg/old --yes
    """
    reg = Registry()
    if not yes and not typer.confirm(f"remove {name} ({reg.removable(name)})?"):
        raise typer.Exit(1)
    path = reg.remove(name)
    console.print(f"removed {name} ({path})")
