"""Trained models from one machine to another: `talkface models export` writes an entry and the
entries it was trained with (an EMG's EDE and sync expert, which it needs to animate and to be
scored) into one tar; `talkface models import` puts them into another registry.

The tar holds an index (`talkface-models.json`) and each entry's files under `<kind>/<name>/`:
safetensors, JSON and the EDE's t-SNE picture, never a pickle. Import reads only the files the
index lists, under names it checks first, and only plain files. Every entry is written into a
temporary folder and its weights checked against the sha256 its meta.json records, and every
parent against the weights its child was trained with, before any is renamed into place
(`atomic_dir`, parents first): a bad archive installs nothing, a stopped import leaves whole
entries only, and a re-run finds those already there. An entry already in the registry under the
same name is kept when its weights are the same and refused when they differ: `prefix` renames
what comes in (ede/demo -> ede/alice-demo), its children's references with it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gzip
import hashlib
import io
import json
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import TalkfaceError
from .fsutil import as_created, atomic_dir, atomic_file, json_text
from .registry import KINDS, NAME, Entry, EntryRef, Registry, code_version

INDEX = "talkface-models.json"
FORMAT = "talkface-models/1"
NEEDED = ("config.json", "meta.json", "model.safetensors")
Progress = Callable[[int, int], None]  # (bytes done, bytes in all)


def lineage(reg: Registry, ref: EntryRef) -> list[Entry]:
    """`ref`'s entry after the entries it was trained with, each once, parents first; every one's
    weights checked against its sha256 and every parent against its child's record of it."""
    seen: dict[str, Entry] = {}

    def visit(r: EntryRef) -> None:
        if str(r) in seen:
            return
        entry = reg.verify(r)
        for name in entry.meta.get("parents", []):
            visit(reg.parent(entry, EntryRef.parse(name).kind))
        seen[str(r)] = entry

    visit(ref)
    return list(seen.values())


def entry_files(entry: Entry) -> list[str]:
    """The files of an entry's folder that travel with it (hidden ones aside)."""
    return sorted(p.name for p in entry.path.iterdir() if p.is_file() and NAME.match(p.name))


def export_models(entries: list[Entry], out: Path, done: Progress) -> None:
    """Write `entries` (a `lineage`, the model last) into the tar `out` through a temporary name;
    `done` is told the bytes written so far and in all."""
    index = {
        "format": FORMAT,
        "model": str(entries[-1].ref),
        "exported": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "entries": [
            {"name": str(e.ref), "model_sha256": e.meta["model_sha256"], "files": entry_files(e)}
            for e in entries
        ],
    }
    files = [(e, name) for e, listed in zip(entries, index["entries"]) for name in listed["files"]]
    sizes = [(e.path / name).stat().st_size for e, name in files]
    with atomic_file(out) as tmp, tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, INDEX, (json.dumps(index, indent=2) + "\n").encode())
        for k, (e, name) in enumerate(files):
            tar.add(e.path / name, arcname=f"{e.ref}/{name}", recursive=False, filter=_plain)
            done(sum(sizes[: k + 1]), sum(sizes))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = _plain(tarfile.TarInfo(name))
    info.size, info.mtime = len(data), int(_dt.datetime.now().timestamp())
    tar.addfile(info, io.BytesIO(data))


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """A member as a plain file of nobody's: the archive does not carry the exporter's user names."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    return info


@dataclass
class Incoming:
    """One entry of an archive: its name there, its name here (`ref`), its meta (renamed) and files."""

    source: str
    ref: EntryRef
    meta: dict
    files: list[str]
    status: str = "imported"


def import_models(reg: Registry, archive: Path, prefix: str, done: Progress) -> list[Incoming]:
    """Install the entries of `archive` into `reg` (see the module's notes); `done` is told the bytes
    installed so far and in all. Returns them, parents first, each `imported` or `already there`."""
    if prefix and not NAME.match(prefix):
        raise TalkfaceError(
            f"--prefix {prefix!r}: use letters, digits, '.', '_' and '-', from a letter or digit"
        )
    try:
        tar = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise TalkfaceError(f"{archive}: not a talkface model archive ({e})") from None
    try:
        with tar:
            return _import(reg, tar, archive, prefix, done)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:  # cut short, say
        raise TalkfaceError(f"{archive}: truncated or damaged ({e})") from None


def _import(
    reg: Registry, tar: tarfile.TarFile, archive: Path, prefix: str, done: Progress
) -> list[Incoming]:
    """`import_models` on the open `tar`."""
    members = {m.name: m for m in tar.getmembers()}
    index = _read_json(tar, members, archive, INDEX)
    listed = index.get("entries")
    if (
        index.get("format") != FORMAT
        or not isinstance(listed, list)
        or not all(isinstance(x, dict) for x in listed)
    ):
        raise TalkfaceError(f"{archive}: not a talkface model archive (its index is not {FORMAT})")
    incoming = _plan(reg, tar, members, archive, index, prefix)
    new = [i for i in incoming if i.status == "imported"]
    total, sofar = sum(members[f"{i.source}/{f}"].size for i in new for f in i.files), 0
    # every entry is written and checked in its temporary folder before any is renamed into
    # place (the stack renames its last-entered first: the children were entered first)
    with contextlib.ExitStack() as stack:
        tmps = {i.source: stack.enter_context(atomic_dir(reg.path(i.ref))) for i in reversed(new)}
        for item in new:
            report = lambda n, base=sofar: done(base + n, total)  # noqa: E731
            sofar += _extract(tar, members, archive, item, tmps[item.source], report)
    return incoming


def _plan(
    reg: Registry, tar: tarfile.TarFile, members: dict, archive: Path, index: dict, prefix: str
) -> list[Incoming]:
    """Every entry of the archive checked, renamed and matched with the registry, before any is
    installed: a bad archive or a clash installs nothing."""
    incoming: list[Incoming] = []
    for listed in index["entries"]:
        try:
            source = EntryRef.parse(str(listed.get("name")))
        except TalkfaceError as e:
            raise TalkfaceError(f"{archive}: {e}") from None
        files = [str(f) for f in listed.get("files", [])] if isinstance(listed.get("files"), list) else []
        if bad := next((f for f in files if not NAME.match(f)), None):
            raise TalkfaceError(f"{archive}: {source} lists a file {bad!r}, a name no model file has")
        if lacks := next((f for f in NEEDED if f not in files), None):
            raise TalkfaceError(f"{archive}: {source} lacks its {lacks}")
        for f in files:
            member = members.get(f"{source}/{f}")
            if member is None or not member.isfile():
                raise TalkfaceError(f"{archive}: {source}/{f} is missing or not a plain file")
        meta = _read_json(tar, members, archive, f"{source}/meta.json")
        if (meta.get("kind"), meta.get("name")) != (source.kind, source.name):
            raise TalkfaceError(f"{archive}: {source}/meta.json names another model")
        if not meta.get("model_sha256") or meta["model_sha256"] != listed.get("model_sha256"):
            raise TalkfaceError(f"{archive}: {source}'s weights have no sha256, or not the index's")
        if any(i.source == str(source) for i in incoming):
            raise TalkfaceError(f"{archive}: {source} is listed twice")
        incoming.append(Incoming(str(source), source, meta, files))
    renamed = {i.source: str(_renamed(EntryRef.parse(i.source), prefix)) for i in incoming}
    shas = {renamed[i.source]: i.meta["model_sha256"] for i in incoming}
    for item in incoming:
        item.ref, item.meta = EntryRef.parse(renamed[item.source]), _rename_meta(item.meta, renamed)
        for parent in item.meta.get("parents", []):
            want = item.meta.get("parent_sha256", {}).get(parent)
            if parent not in shas or (want and want != shas[parent]):
                raise TalkfaceError(
                    f"{archive}: {item.source} was trained with a {parent} that the archive does not hold"
                )
        here = reg.path(item.ref)
        if here.exists():
            if reg.read(item.ref).meta.get("model_sha256") != item.meta["model_sha256"]:
                raise TalkfaceError(
                    f"{item.ref}: {reg.home} has another model of this name; import under other names "
                    f"with --prefix (e.g. --prefix theirs-)"
                )
            item.status = "already there"
    return incoming


def _renamed(ref: EntryRef, prefix: str) -> EntryRef:
    return EntryRef.parse(f"{ref.kind}/{prefix}{ref.name}") if prefix else ref


def _rename_meta(meta: dict, renamed: dict[str, str]) -> dict:
    """`meta` with its own name and its references to other entries of the archive renamed."""
    meta = dict(meta)
    meta["name"] = EntryRef.parse(renamed[f"{meta['kind']}/{meta['name']}"]).name
    meta["parents"] = [renamed.get(p, p) for p in map(_ref_name, meta.get("parents", []))]
    for kind in KINDS:
        if isinstance(meta.get(kind), str):
            meta[kind] = renamed.get(_ref_name(meta[kind]), meta[kind])
    if isinstance(meta.get("parent_sha256"), dict):
        meta["parent_sha256"] = {renamed.get(p, p): s for p, s in meta["parent_sha256"].items()}
    return meta


def _ref_name(name: str) -> str:
    """A KIND/NAME as the registry spells it (a name given to training is kept as typed)."""
    return str(EntryRef.parse(name))


def _extract(
    tar: tarfile.TarFile, members: dict, archive: Path, item: Incoming, tmp: Path, done: Callable
) -> int:
    """Write one entry's files into `tmp` and check its weights; `done` is told the bytes written
    so far. Returns them in all."""
    written = 0
    for name in item.files:
        member = members[f"{item.source}/{name}"]
        if name == "meta.json":  # renamed with --prefix
            (tmp / name).write_text(json_text(item.meta) + "\n")
        else:
            src, digest = tar.extractfile(member), hashlib.sha256()
            with open(tmp / name, "wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
                    digest.update(block)
            if name == "model.safetensors" and digest.hexdigest() != item.meta["model_sha256"]:
                raise TalkfaceError(f"{archive}: {item.source}'s weights are corrupt (sha256 differs)")
        as_created(tmp / name)
        written += member.size
        done(written)
    return written


def _read_json(tar: tarfile.TarFile, members: dict, archive: Path, name: str) -> dict:
    member = members.get(name)
    if member is None or not member.isfile():
        raise TalkfaceError(f"{archive}: not a talkface model archive (no {name})")
    try:
        obj = json.loads(tar.extractfile(member).read())
    except (ValueError, UnicodeDecodeError):
        raise TalkfaceError(f"{archive}: {name} is not readable JSON") from None
    if not isinstance(obj, dict):
        raise TalkfaceError(f"{archive}: {name} is not a JSON object")
    return obj
