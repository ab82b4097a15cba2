"""The model registry: named checkpoints on disk plus an in-process cache of loaded models.

Layout: `$TALKFACE_HOME/models/<kind>/<name>/` with `config.json` (the stage config that built the
model), `model.safetensors` (weights) and `meta.json` (created, step, metrics, data manifest hash,
parent entries, code version, size and sha256 of the weights). Entries are written into a temporary
folder and renamed into place, so a reader never sees a partial one; loading verifies all three.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import importlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from . import __version__
from .errors import TalkfaceError
from .fsutil import atomic_dir, atomic_write_json, save_tensors, sha256_file, utf8_path

KINDS = ("ede", "sync", "emg")
# kind -> "module:function" building an nn.Module from the entry's config dict.
BUILDERS: dict[str, str] = {
    "ede": "talkface_cli.models.ede:build",
    "sync": "talkface_cli.models.sync:build",
    "emg": "talkface_cli.models.emg:build",
}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # an entry name; also a file name in one
_CACHE: dict[tuple[str, str, str], torch.nn.Module] = {}


def default_home() -> Path:
    return Path(os.environ.get("TALKFACE_HOME") or Path.home() / ".talkface").expanduser()


@dataclass(frozen=True)
class EntryRef:
    kind: str
    name: str

    @classmethod
    def parse(cls, ref: str) -> EntryRef:
        kind, sep, name = ref.strip().partition("/")
        if not sep or not name:
            raise TalkfaceError(f"model name {ref!r}: expected KIND/NAME, e.g. ede/ravdess")
        if kind not in KINDS:
            raise TalkfaceError(f"model name {ref!r}: unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
        if not NAME.match(name):
            raise TalkfaceError(f"model name {ref!r}: use letters, digits, '.', '_' and '-' only")
        return cls(kind, name)

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass
class Entry:
    ref: EntryRef
    path: Path
    config: dict
    meta: dict


@functools.cache
def code_version() -> str:
    """Package version, plus the checkout's state when running from one (asked once per process)."""
    state = checkout_state(Path(__file__).parent)
    return f"{__version__}+{state}" if state else __version__


def checkout_state(where: Path) -> str | None:
    """`g<commit>` of the git checkout holding `where`, with `.edited<digest>` of the uncommitted
    edits under `where` if any (an edited checkout is not its commit); None outside a checkout."""
    commit = _git(where, "rev-parse", "--short", "HEAD")
    if not commit:
        return None
    edits = _git(where, "diff", "HEAD", "--no-ext-diff", "--", ".")
    return f"g{commit}" + (f".edited{hashlib.sha256(edits.encode()).hexdigest()[:8]}" if edits else "")


def _git(where: Path, *args: str) -> str | None:
    """A git command's output in `where` (None: no git, or not a checkout)."""
    try:
        out = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


class Registry:
    def __init__(self, home: Path | None = None):
        self.home = Path(home) if home is not None else default_home()

    def path(self, ref: EntryRef | str) -> Path:
        ref = EntryRef.parse(ref) if isinstance(ref, str) else ref
        return self.home / "models" / ref.kind / ref.name

    def save(
        self,
        ref: EntryRef | str,
        state: dict[str, torch.Tensor],
        config: dict,
        meta: dict | None = None,
        overwrite: bool = False,
        extra_files: dict[str, bytes] | None = None,
    ) -> Entry:
        """Publish weights + config + meta (+ extra files such as a report) as one entry, atomically."""
        ref = EntryRef.parse(ref) if isinstance(ref, str) else ref
        final = self.path(ref)
        state = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
        try:
            with atomic_dir(final, overwrite=overwrite) as tmp:
                save_tensors(state, tmp / "model.safetensors")
                full_meta = {
                    "kind": ref.kind,
                    "name": ref.name,
                    "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                    "code_version": code_version(),
                    "step": None,
                    "metrics": {},
                    "data_manifest_hash": None,
                    "parents": [],
                    **(meta or {}),
                    "model_bytes": (tmp / "model.safetensors").stat().st_size,
                    "model_sha256": sha256_file(tmp / "model.safetensors"),
                }
                atomic_write_json(tmp / "config.json", config)
                atomic_write_json(tmp / "meta.json", full_meta)
                for name, data in (extra_files or {}).items():
                    (tmp / name).write_bytes(data)
        except FileExistsError:
            raise TalkfaceError(f"{ref}: already in the registry at {final} (choose another name)") from None
        self._forget(final)
        return Entry(ref, final, config, full_meta)

    def read(self, ref: EntryRef | str) -> Entry:
        """The entry's config and meta, after checking that it is complete and intact."""
        ref = EntryRef.parse(ref) if isinstance(ref, str) else ref
        path = self.path(ref)
        if not path.is_dir():
            raise TalkfaceError(f"{ref}: no such model in {self.home} (see `talkface models list`)")
        config = _read_json(path / "config.json", ref)
        meta = _read_json(path / "meta.json", ref)
        weights = path / "model.safetensors"
        if not weights.is_file():
            raise TalkfaceError(f"{weights}: missing, the entry {ref} is partial")
        size = weights.stat().st_size
        if meta.get("model_bytes") not in (None, size):
            raise TalkfaceError(
                f"{weights}: truncated or corrupt ({size} bytes, meta.json says {meta['model_bytes']})"
            )
        return Entry(ref, path, config, meta)

    def verify(self, ref: EntryRef | str) -> Entry:
        """`read` plus a check of the weights' sha256 against meta.json."""
        entry = self.read(ref)
        weights = entry.path / "model.safetensors"
        expected = entry.meta.get("model_sha256")
        if expected and sha256_file(weights) != expected:
            raise TalkfaceError(f"{weights}: corrupt (sha256 differs from meta.json)")
        return entry

    def load_state(self, ref: EntryRef | str, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        entry = self.verify(ref)
        weights = entry.path / "model.safetensors"
        try:
            with utf8_path(weights) as name:
                return load_file(name, device=str(device))
        except (SafetensorError, OSError, ValueError) as e:
            raise TalkfaceError(f"{weights}: not a readable safetensors file ({e})") from None

    def load_model(
        self,
        ref: EntryRef | str,
        device: torch.device | str = "cpu",
        build: Callable[[dict], torch.nn.Module] | None = None,
        kind: str | None = None,
    ) -> torch.nn.Module:
        """Build the entry's model from its config, load its weights, eval mode; cached per device.
        `kind`: the kind the caller needs (an EDE given where a sync expert is wanted is one line)."""
        entry = self.read(ref)
        if kind is not None and entry.ref.kind != kind:
            raise TalkfaceError(
                f"{entry.ref}: a model of kind {entry.ref.kind}, where one of kind {kind} ({kind}/NAME) "
                "is needed"
            )
        key = (str(entry.path.resolve()), str(entry.meta.get("model_sha256")), str(torch.device(device)))
        if key not in _CACHE:
            model = (build or builder_for(entry.ref.kind))(entry.config)
            state = self.load_state(entry.ref, "cpu")
            try:
                missing, unexpected = model.load_state_dict(state, strict=False)
            except RuntimeError as e:  # shape mismatches: saved by another version of the code
                raise TalkfaceError(
                    f"{entry.path}: weights do not fit the config ({str(e).splitlines()[1].strip()[:140]})"
                ) from None
            if missing or unexpected:
                raise TalkfaceError(
                    f"{entry.path}: weights do not fit the config "
                    f"(missing {len(missing)}, unexpected {len(unexpected)} tensors)"
                )
            _CACHE[key] = model.to(device).eval()
        return _CACHE[key]

    def list(self) -> list[Entry | tuple[EntryRef, str]]:
        """Every entry; a broken one is listed as (ref, problem) instead of failing the listing."""
        out: list[Entry | tuple[EntryRef, str]] = []
        root = self.home / "models"
        for kind in KINDS:
            for path in sorted((root / kind).glob("*")) if (root / kind).is_dir() else []:
                if path.name.startswith(".") or not path.is_dir():
                    continue
                ref = EntryRef(kind, path.name)
                try:
                    out.append(self.read(ref))
                except TalkfaceError as e:
                    out.append((ref, str(e)))
        return out

    def parent(self, entry: Entry, kind: str) -> EntryRef:
        """The `kind` entry (ede, sync) that `entry` was trained with, checked to be there and, where
        `entry` records the weights it was trained with (`parent_sha256`, EMGs since session 25), to
        hold those: a folder of that name copied from another registry may hold other weights."""
        ref = EntryRef.parse(entry.meta[kind])
        if not self.path(ref).is_dir():
            raise TalkfaceError(f"{entry.ref}: trained with {ref}, which is no longer in {self.home}")
        want = entry.meta.get("parent_sha256", {}).get(str(ref))
        if want and want != (have := self.read(ref).meta.get("model_sha256")):
            raise TalkfaceError(
                f"{entry.ref}: trained with another {ref} than the one in {self.home} (weights "
                f"{want[:12]}, here {str(have)[:12]}); move models with `talkface models export` and `import`"
            )
        return ref

    def dependents(self, ref: EntryRef) -> list[str]:
        """The entries trained with `ref` (their meta names it a parent)."""
        return [
            str(e.ref) for e in self.list() if isinstance(e, Entry) and str(ref) in e.meta.get("parents", [])
        ]

    def removable(self, ref: EntryRef | str) -> Path:
        """The folder of an entry that may go: one that exists, and that no other entry was trained
        with (an EMG loads its EDE to animate and its sync expert to evaluate)."""
        ref = EntryRef.parse(ref) if isinstance(ref, str) else ref
        path = self.path(ref)
        if not path.is_dir():
            raise TalkfaceError(f"{ref}: no such model in {self.home}")
        if children := self.dependents(ref):
            need = "needs it (trained with it); remove it" if len(children) == 1 else "need it; remove them"
            raise TalkfaceError(f"{ref}: {', '.join(children)} {need} first")
        return path

    def remove(self, ref: EntryRef | str) -> Path:
        """Delete one `removable` entry (only the registry's own folder for it)."""
        path = self.removable(ref)
        self._forget(path)
        shutil.rmtree(path)
        return path

    @staticmethod
    def _forget(path: Path) -> None:
        for key in [k for k in _CACHE if k[0] == str(path.resolve())]:
            del _CACHE[key]


def builder_for(kind: str) -> Callable[[dict], torch.nn.Module]:
    if kind not in BUILDERS:
        raise TalkfaceError(f"no model builder for kind {kind!r} (kinds: {', '.join(BUILDERS)})")
    module, _, func = BUILDERS[kind].partition(":")
    return getattr(importlib.import_module(module), func)


def _read_json(path: Path, ref: EntryRef) -> Any:
    if not path.is_file():
        raise TalkfaceError(f"{path}: missing, the entry {ref} is partial")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TalkfaceError(f"{path}: not valid JSON ({e})") from None
