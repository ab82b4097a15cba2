"""The one pattern every recipe follows; recipes supply `discover` and `process`."""

from __future__ import annotations

import datetime as _dt
import json
import multiprocessing
import os
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from talkface_cli import __version__
from talkface_cli.data.store import (
    assemble_manifest,
    assign_splits,
    clip_paths,
    is_written,
    speaker_path,
    validate,
    write_manifest,
)
from talkface_cli.errors import TalkfaceError, stop_signals_held
from talkface_cli.fsutil import atomic_write_json, refuse_foreign
from talkface_cli.lock import working_in
from talkface_cli.ui import progress

from .inner import InnerBar, drain, reporting_to, send_to
from .labels import COLUMNS, part_id, part_labels
from .packed import clear_copies, same_bytes
from .visible import files_under

ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.xz", ".7z", ".rar")


def nothing_found(root: Path, what: str, read: str = "") -> TalkfaceError:
    """The error for a ROOT that holds none of a corpus's files. Corpora come packed (RAVDESS as
    zips, MEAD as video.tar / audio.tar per speaker): archives found there are named, but for
    those the recipe read (`read`, a suffix)."""
    packed = sorted(
        str(p.relative_to(root))
        for p in files_under(root)
        if p.name.lower().endswith(ARCHIVES) and not (read and p.name.lower().endswith(read))
    )
    hint = f"; unpack its archives first ({', '.join(packed[:3])}{', ...' if len(packed) > 3 else ''})"
    return TalkfaceError(f"{root}: no {what} found{hint if packed else ''}")


@dataclass
class PrepOptions:
    jobs: int = 1  # worker processes
    seed: int = 0  # splits and synthetic data
    split_by: str = "clip"  # clip or speaker (80/10/10, seeded)
    test_speakers: list[str] = field(default_factory=list)
    val_speakers: list[str] = field(default_factory=list)
    face_model: str = "ict"  # what tracked video is fitted with
    flame_model: str | None = None
    max_miss: float = 0.2  # clips whose face is missed in more frames than this are skipped
    extra: dict[str, Any] = field(default_factory=dict)  # recipe-specific settings


@dataclass
class Job:
    id: str
    source: str
    labels: dict[str, Any]
    kind: str = "audio"  # audio, video, or recipe-specific
    outputs: list[str] | None = None  # clip ids this job writes (default: [id])

    def done(self, out: Path) -> bool:
        return all(is_written(out, c) for c in (self.outputs or [self.id]))


class Recipe(Protocol):
    name: str

    def discover(self, root: Path, opts: PrepOptions) -> tuple[list[Job], list[dict]]:
        """Jobs to run and per-file errors found while discovering (unparseable names...)."""

    def process(self, job: Job, out: Path, opts: PrepOptions) -> None:
        """Make and write one clip (data_recipes writes through talkface_cli.data.store)."""


@dataclass
class PrepSummary:
    out: str
    discovered: int
    written: int
    skipped: int
    relabelled: int
    failed: int
    clips: int
    problems: list[str]
    errors: list[dict]
    notes: list[str] = field(default_factory=list)  # the recipe's, e.g. RAVDESS songs passed over


def _run_one(recipe: Recipe, job: Job, out: Path, opts: PrepOptions) -> dict | None:
    """Process one job; an error becomes one line (the traceback goes to the errors file)."""
    try:
        recipe.process(job, out, opts)
        return None
    except TalkfaceError as e:
        return {"id": job.id, "source": job.source, "error": str(e)}
    except Exception as e:  # noqa: BLE001 - one bad file never stops the rest
        tb = traceback.format_exc(limit=3)
        return {"id": job.id, "source": job.source, "error": f"{type(e).__name__}: {e}", "traceback": tb}


def check_resumable(out: Path, recipe: Recipe, opts: PrepOptions) -> None:
    """A store is made in a new or empty folder, never among a user's files (ROOT itself, say).
    It grows or resumes only under the recipe, recipe version and options that made its clips
    (the face model; a recipe's `content_options`, e.g. the synthetic corpus's seed, and
    `content_extras`, e.g. HDTF's annotations): written clips are skipped, so clips made otherwise
    would mix silently with them. Split options may change, and the labels CSV too, but not be
    left out: the clips would lose their labels."""
    path = out / "prep.json"
    if not path.is_file():
        refuse_foreign(out, (), "a clip store", "--out")
        return
    if not any((out / "clips").glob("*.npz")):
        return
    made = json.loads(path.read_text())
    if made.get("recipe") != recipe.name:
        raise TalkfaceError(
            f"{out}: a store made by `prep {made.get('recipe')}`; give `prep {recipe.name}` another --out"
        )
    was, now = made.get("recipe_version", 1), version_of(recipe)
    if was != now:
        raise TalkfaceError(
            f"{out}: made by version {was} of the {recipe.name} recipe, whose clips differ from this "
            f"talkface's version {now}; give another --out (or remove the old store yourself)"
        )
    was = made.get("options", {})
    labels = (was.get("extra") or {}).get("labels")
    if labels and not opts.extra.get("labels"):  # its clips would lose their labels (`relabel`)
        raise TalkfaceError(f"{out}: labelled from {labels}; give --labels again to resume or grow it")
    for key in ("face_model", *getattr(recipe, "content_options", ())):
        if key in was and was[key] != getattr(opts, key):
            raise TalkfaceError(
                f"{out}: made with --{key.replace('_', '-')} {was[key]}, not {getattr(opts, key)}; "
                "use the same to resume or grow it, or another --out"
            )
    for key in getattr(recipe, "content_extras", ()):  # a recipe's own options that make its clips
        old, new = (was.get("extra") or {}).get(key), opts.extra.get(key)
        if old != new:
            flag = f"--{key.replace('_', '-')}"
            raise TalkfaceError(
                f"{out}: made {f'with {flag} {old}' if old else f'without {flag}'}, not "
                f"{f'with {new}' if new else 'without'}; use the same to resume or grow it, or another --out"
            )


def version_of(recipe: Recipe) -> int:
    """A recipe's `version`: raised whenever the clips it writes for the same input change."""
    return int(getattr(recipe, "version", 1))


def stamp(out: Path, recipe: Recipe, root: Path | None, opts: PrepOptions, args: dict | None, **done) -> None:
    """prep.json: how the store was made. Written before the first clip (`finished` null), so an
    interrupted run resumes only as it was begun; written again with the counts when complete."""
    atomic_write_json(
        out / "prep.json",
        {
            "recipe": recipe.name,
            "recipe_version": version_of(recipe),
            "source_root": str(root) if root is not None else None,
            "talkface_version": __version__,
            "finished": None,
            "options": asdict(opts),
            "args": args or {},
            "how": getattr(recipe, "how", ""),
            **done,
        },
    )


def run_recipe(
    recipe: Recipe, root: Path | None, out: Path, opts: PrepOptions, args: dict | None = None
) -> PrepSummary:
    """discover -> process in parallel (skipping written clips) -> manifest + splits -> validate."""
    out = Path(out)
    check_resumable(out, recipe, opts)
    jobs, errors = recipe.discover(Path(root) if root is not None else out, opts)
    out.mkdir(parents=True, exist_ok=True)  # after discovery: a wrong ROOT leaves no empty store behind
    with working_in(out, f"prep {recipe.name}"):
        return fill(recipe, root, out, opts, args, jobs, errors)


def fill(
    recipe: Recipe,
    root: Path | None,
    out: Path,
    opts: PrepOptions,
    args: dict | None,
    jobs: list[Job],
    errors: list[dict],
) -> PrepSummary:
    """`run_recipe` once the store is held: its discovered `jobs` made into clips, and the rest."""
    found = len(jobs)
    clear_copies(out / "tracks")  # archives' members are copied there while a clip is made
    jobs, twins, copies = unique_ids(jobs, out / "tracks")
    errors += twins
    stamp(out, recipe, root, opts, args)
    relabelled = relabel(out, jobs)
    pending = [j for j in jobs if not j.done(out)]
    with progress() as bar:
        task = bar.add_task(
            f"prep {recipe.name}", total=len(jobs), completed=len(jobs) - len(pending), unit="clip"
        )
        frames = InnerBar(bar, "track videos", "frame")  # a long video is one clip: its frames move
        if opts.jobs > 1 and len(pending) > 1 and getattr(recipe, "parallel", True):
            channel = (context := multiprocessing.get_context()).Queue()
            with ProcessPoolExecutor(opts.jobs, context, initializer=send_to, initargs=(channel,)) as pool:
                waiting = {pool.submit(_run_one, recipe, j, out, opts) for j in pending}
                try:
                    while waiting:
                        # A stop raised inside `wait` or `result` could leave a future's lock held
                        # (`wait` takes them one by one), and the shutdown below then hung for good:
                        # Ctrl-C and SIGTERM act between these calls, not in them.
                        with stop_signals_held():
                            finished, waiting = wait(waiting, timeout=0.2, return_when=FIRST_COMPLETED)
                            done = [f.result() for f in finished]
                        drain(channel, frames)
                        for err in done:
                            if err is not None:
                                errors.append(err)
                            bar.advance(task)
                except BaseException:  # Ctrl-C or SIGTERM: the clips under way finish, no new ones start
                    pool.shutdown(cancel_futures=True)
                    raise
            drain(channel, frames)
        else:
            with reporting_to(frames):
                for j in pending:
                    if (err := _run_one(recipe, j, out, opts)) is not None:
                        errors.append(err)
                    bar.advance(task)
    finish = getattr(recipe, "finish", None)
    if finish is not None:  # recipes with a second, per-speaker pass (tracked video)
        errors += finish(jobs, out, opts)
    records = assemble_manifest(out)
    if (take := getattr(recipe, "take", None)) is not None:  # the recording a clip's file holds
        for r in records:
            r["take"] = take(r)
    assign_splits(
        records, opts.seed, opts.split_by, test_speakers=opts.test_speakers, val_speakers=opts.val_speakers
    )
    write_manifest(out, records)
    errors = sorted(errors, key=lambda e: e["source"])
    failed_jobs = {(e["id"], e["source"]) for e in errors}
    atomic_write_json(out / "errors.json", errors)
    finished = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    stamp(out, recipe, root, opts, args, finished=finished, clips=len(records), errors=len(errors))
    problems = validate(out)
    notes = list(getattr(recipe, "notes", []))
    if copies:
        notes.append(
            f"{len(copies)} file(s) passed over, byte for byte copies of a clip's file ({copies[0]}, ...)"
        )
    if cut := sorted({r["source"] for r in records if "part_of" in r}):
        notes.append(
            f"{len(cut)} video(s) cut where the face is missed, the picture stops or the shot changes, "
            f"into {sum('part_of' in r for r in records)} clip(s) ({cut[0]}, ...; parts after the first: "
            "<id>+part2, ...)"
        )
    if gone := left_behind(records, jobs):
        notes.append(
            f"{len(gone)} clip(s) from earlier runs whose file or labels row this run did not find are kept "
            f"({gone[0]}, ...): a store only grows; to drop one, remove its clips/<id>.npz and .json and "
            "run prep again"
        )
    written = sum(1 for j in pending if (j.id, j.source) not in failed_jobs and j.done(out))
    return PrepSummary(
        str(out),
        found,
        written,
        len(jobs) - len(pending),
        relabelled,
        len(errors),
        len(records),
        problems,
        errors,
        notes,
    )


def left_behind(records: list[dict], jobs: list[Job]) -> list[str]:
    """The store's clips that none of this run's jobs writes (a part by its video's job): their
    file left ROOT or their row the labels CSV. They stay (a CSV of a subset must not empty a
    store), and were kept without a word."""
    ids = {c for j in jobs for c in (j.outputs or [j.id])}
    return [r["id"] for r in records if r.get("part_of", r["id"]) not in ids]


def relabel(out: Path, jobs: list[Job]) -> int:
    """Written clips take the labels their corpus gives them now (a labels CSV corrected between
    two runs): their sidecars are rewritten. A speaker's face shape is fitted to all its tracked
    clips, so when a tracked clip changes speaker, it and every clip of its old speaker are fitted
    again from their kept tracks: the old shape, their .npz and then the sidecars go or change in
    an order that lets a run stopped half-way find the change again, and `finish` fits them.
    A video cut into parts (`video.parts`) is relabelled by its first part, which holds its id.
    Returns how many clips changed labels."""
    changed: dict[str, tuple[Path, dict]] = {}  # clip id -> sidecar, record with the new labels
    old_speakers, moved = set(), set()  # tracked clips' old speakers; the clips that left them
    for j in jobs:
        if j.outputs or not is_written(out, j.id):  # several clips from one job: labels made, not read
            continue
        side = clip_paths(out, j.id)[1]
        record = json.loads(side.read_text())
        labels = part_labels(j.labels, j.id) if "part_of" in record else j.labels
        now = {k: labels[k] for k in COLUMNS[1:] if k in labels and record.get(k) != labels[k]}
        if now:
            for clip_id in (part_id(j.id, k) for k in range(1, record.get("parts", 1) + 1)):
                part_side = clip_paths(out, clip_id)[1]
                if part_side.is_file():
                    changed[clip_id] = (part_side, json.loads(part_side.read_text()) | now)
            if j.kind == "video" and "speaker" in now:
                old_speakers.add(str(record["speaker"]))
                moved.add(j.id)
    for speaker in old_speakers:
        speaker_path(out, speaker).unlink(missing_ok=True)
    stayed = [j.id for j in jobs if j.kind == "video" and str(j.labels.get("speaker")) in old_speakers]
    for clip_id in [*stayed, *moved]:  # the moved last: till they go, a re-run sees the change
        clip_paths(out, clip_id)[0].unlink(missing_ok=True)
    for side, record in changed.values():
        atomic_write_json(side, record)
    return len(changed)


def unique_ids(jobs: list[Job], scratch: Path) -> tuple[list[Job], list[dict], list[str]]:
    """The first job (in path order) for each clip id; a later one (the same clip twice under ROOT,
    e.g. a 48 kHz wav and a 16 kHz flac copy) is reported instead of overwriting the first, unless
    it holds the same bytes (Kaggle's RAVDESS holds each file in two folders): such copies are
    returned, passed over without an error. `scratch`: where archives' members are compared."""
    taken: dict[str, str] = {}  # clip id -> source that writes it
    kept, errors, copies = [], [], []
    for j in jobs:
        ids = j.outputs or [j.id]
        first = next((taken[c] for c in ids if c in taken), None)
        if first is not None and same_bytes(first, j.source, scratch):
            copies.append(j.source)
        elif first is not None:
            why = f"{j.source}: a second file for clip {j.id}, skipped (kept {first})"
            errors.append({"id": j.id, "source": j.source, "error": why})
        else:
            taken.update(dict.fromkeys(ids, j.source))
            kept.append(j)
    return kept, errors, copies


def default_jobs() -> int:
    return max(1, min(4, (os.cpu_count() or 1)))
