"""`talkface models`: list, show, remove, export and import registry entries."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from rich.progress import Progress

from ..archive import export_models, import_models, lineage
from ..audio.features import LOGMEL
from ..errors import TalkfaceError
from ..fsutil import Output, check_can_create
from ..registry import Entry, EntryRef, Registry
from ..ui import cells, console, emit, json_target, progress, table
from .common import JsonOpt

app = typer.Typer(
    help="List, show, remove, export and import models in the registry ($TALKFACE_HOME/models).\n\n"
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
    json_out: Path = JsonOpt,
) -> None:
    """Delete one entry from the registry (its folder under $TALKFACE_HOME/models only).

    Example: talkface models remove emg/old --yes
    """
    json_target(json_out)
    reg = Registry()
    # the question goes where the notes go: with `--json -`, stdout holds the JSON alone
    if not yes and not typer.confirm(f"remove {name} ({reg.removable(name)})?", err=console.stderr):
        raise typer.Exit(1)
    path = reg.remove(name)
    console.print(f"removed {name} ({path})")
    emit(json_out, {"removed": name, "path": str(path)})


@app.command("export")
def export(
    name: str = typer.Argument(..., help="KIND/NAME, e.g. emg/ravdess"),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="the .tar to write, or a folder for it; default: KIND-NAME.tar in the current folder "
        "(numbered, -2, -3, ..., if taken)",
    ),
    json_out: Path = JsonOpt,
) -> None:
    """Write a model and the models it was trained with (an EMG's EDE and sync expert) into one .tar,
    for `talkface models import` on another machine or in another registry.

    Example: talkface models export emg/ravdess   (writes emg-ravdess.tar)

    On the other machine: talkface models import emg-ravdess.tar
    """
    json_target(json_out)
    reg, ref = Registry(), EntryRef.parse(name)
    target = Output.given(out, out is not None and not out.suffix, "--out", (".tar",))
    if not target.folder and target.path.suffix.lower() != ".tar":
        raise TalkfaceError(f"--out {out}: a model archive is a .tar")
    path = check_can_create(target.name(f"{ref.kind}-{ref.name}.tar"))
    entries = lineage(reg, ref)  # every weight file checked before anything is written
    path.parent.mkdir(parents=True, exist_ok=True)
    with progress() as bar:
        export_models(entries, path, _megabytes(bar, f"export {ref}"))
    rows = [_moved(e.ref, e.meta, "exported") for e in entries]
    emit(
        json_out,
        {"archive": str(path), "models": rows},
        table(f"{ref} -> {path}", *cells(rows)),
    )
    for e in entries:
        source = e.config.get("model", {}).get("content")
        if source and source not in LOGMEL:
            console.print(
                f"{e.ref} reads speech through the HuBERT at {source}, which is not in the archive: "
                "on the other machine, pass --hubert DIR where the same HuBERT is"
            )


@app.command("import")
def import_(
    archive: Path = typer.Argument(..., help="a .tar written by `talkface models export`"),
    prefix: str = typer.Option(
        "",
        "--prefix",
        help="put each model under its name with this in front (emg/demo -> emg/PREFIXdemo), where "
        "this registry has other models of their names",
    ),
    json_out: Path = JsonOpt,
) -> None:
    """Put the models of an archive from `talkface models export` into this registry, checking their
    weights. A model already here with the same weights is kept; one with other weights under the
    same name is refused (use --prefix).

    Example: talkface models import emg-ravdess.tar

    Beside models of the same names: talkface models import emg-demo.tar --prefix alice-
    """
    json_target(json_out)
    if not archive.is_file():
        raise TalkfaceError(
            f"{archive}: {'a folder, not an archive' if archive.is_dir() else 'no such file'}"
        )
    reg = Registry()
    with progress() as bar:  # drawn once the checks are passed and the writing starts
        incoming = import_models(reg, archive, prefix, _megabytes(bar, f"import {archive.name}"))
    rows = [_moved(i.ref, i.meta, i.status, source=i.source) for i in incoming]
    emit(
        json_out,
        {"archive": str(archive), "models": rows},
        table(f"{archive} -> {reg.home}", *cells(rows)),
    )
    if incoming and incoming[-1].ref.kind == "emg":
        console.print(f"to use it: talkface animate speech.wav --model {incoming[-1].ref}")


def _megabytes(bar: Progress, label: str) -> Callable[[int, int], None]:
    """A progress callback (bytes done, bytes in all) that adds its task to `bar` when first called."""
    job = None

    def done(n: int, total: int) -> None:
        nonlocal job
        if job is None:
            job = bar.add_task(label, total=total / 1e6, unit="MB")
        bar.update(job, completed=n / 1e6)

    return done


def _moved(ref: EntryRef, meta: dict, status: str, source: str | None = None) -> dict:
    row = {"model": str(ref), "status": status, "sha256": meta["model_sha256"][:12]}
    if source is not None and source != str(ref):
        row["from"] = source
    return row | {"MB": round(meta.get("model_bytes", 0) / 1e6, 1)}
