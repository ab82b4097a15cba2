"""`talkface prep`: corpus -> clip store, one subcommand per recipe."""

from __future__ import annotations

import math
import sys
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import typer

from data_recipes.base import PrepOptions, PrepSummary, Recipe, default_jobs, run_recipe

from ..fsutil import check_can_create
from ..lock import working_in
from ..ui import console, emit, json_target, progress, table
from .common import DeviceOpt, JsonOpt, seed_option

app = typer.Typer(
    help="Prepare a corpus into a clip store (audio, face parameters, labels, splits).\n\n"
    "Example: talkface prep ravdess PATH/TO/RAVDESS   (makes the store data/ravdess; a re-run resumes it)",
    no_args_is_help=True,
)

OutOpt = typer.Option(
    None,
    "--out",
    "-o",
    help="clip store folder (created; re-runs resume it); default: data/<recipe> in the current folder "
    "(data/<ROOT's name> for folder and import)",
)
JobsOpt = typer.Option(default_jobs(), "--jobs", "-j", min=1, help="worker processes")
SeedOpt = seed_option("seed of the split (and of synthetic data)")
SplitOpt = typer.Option("clip", "--split-by", help="80/10/10 split by clip or by speaker")
TestOpt = typer.Option("", "--test-speakers", help="comma-separated speakers for the test split (overrides)")
ValOpt = typer.Option("", "--val-speakers", help="comma-separated speakers for the val split")
FaceOpt = typer.Option("ict", "--face-model", help="face model fitted to tracked video: ict or flame")
FlameOpt = typer.Option(None, "--flame-model", help="folder with your FLAME files (for --face-model flame)")


def frame_rate(value: float | None) -> float | None:
    """--fps's callback: a rate of frames is finite and above 0 (0 divided by zero, inf made one frame)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter("use a frame rate above 0")
    return value


MissOpt = typer.Option(
    0.2,
    "--max-miss",
    min=0.0,
    max=1.0,
    help="skip videos whose face is missed in more than this fraction of frames; a miss longer than "
    "5 frames cuts a video into clips of its stretches with the face (<id>, <id>+part2, ...), as do "
    "a change of shot and a jump to another face",
)


def options(
    jobs: int,
    seed: int,
    split_by: str,
    test: str,
    val: str,
    face: str = "ict",
    flame: Path | None = None,
    max_miss: float = 0.2,
    **extra,
) -> PrepOptions:
    split = lambda s: [x.strip() for x in s.split(",") if x.strip()]  # noqa: E731
    return PrepOptions(
        jobs=jobs,
        seed=seed,
        split_by=split_by,
        test_speakers=split(test),
        val_speakers=split(val),
        face_model=face,
        flame_model=str(flame) if flame else None,
        max_miss=max_miss,
        extra=extra,
    )


def run_and_report(
    recipe: Recipe, root: Path | None, out: Path | None, opts: PrepOptions, json_out: Path | None
) -> None:
    out = out or default_store(recipe.name, root)
    check_can_create(out, folder=True)
    json_target(json_out)
    summary = run_recipe(recipe, root, out, opts, args={"root": str(root) if root else None})
    report(summary, json_out)


def default_store(recipe: str, root: Path | None) -> Path:
    """Where a store goes without --out: data/ravdess, data/hdtf, data/mead, data/synthetic; a folder
    or an import is named after its ROOT (data/my_clips), so two of them do not grow one store."""
    named = recipe in ("folder", "import") and root is not None
    return Path("data") / (Path(root).resolve().name if named else recipe)


def report(s: PrepSummary, json_out: Path | None) -> None:
    """The summary and failed clips as tables (left out for `--json -`, whose JSON holds them)."""
    counts = [[s.discovered, s.written, s.skipped, s.relabelled, s.failed, s.clips]]
    columns = ["discovered", "written now", "already there", "relabelled", "failed", "clips in store"]
    failed = [[e["source"], e["error"]] for e in s.errors[:20]]
    title = f"{len(s.errors)} clip(s) failed (all in {s.out}/errors.json)"
    emit(
        json_out,
        asdict(s),
        table(f"prep -> {s.out}", columns, counts),
        table(title, ["file", "error"], failed) if failed else None,
    )
    for n in s.notes:
        console.print(f"[yellow]note:[/] {n}", highlight=False)
    for p in s.problems:
        console.print(f"[red]store problem:[/] {p}")
    if s.errors or s.problems:
        sys.exit(3)  # finished, but some clips failed: the store holds the rest


@app.command("ravdess")
def ravdess(
    root: Path = typer.Argument(
        ..., help="RAVDESS folder (any depth: 01-*.mp4 and 03-*.wav/flac, unzipped or in its zips)"
    ),
    out: Path = OutOpt,
    jobs: int = JobsOpt,
    seed: int = SeedOpt,
    split_by: str = SplitOpt,
    test: str = TestOpt,
    val: str = ValOpt,
    face: str = FaceOpt,
    flame: Path = FlameOpt,
    max_miss: float = MissOpt,
    song: bool = typer.Option(
        False, "--song", help="take the sung clips (02 vocal channel) too; the paper trains on speech"
    ),
    json_out: Path = JsonOpt,
) -> None:
    """RAVDESS: audio-video clips are tracked and fitted, audio-only clips keep their audio; sung
    clips only with --song.

    Example: talkface prep ravdess ~/RAVDESS   (makes the store data/ravdess)

    As downloaded (Video_Speech_Actor_01.zip ...; read in place): talkface prep ravdess ~/Downloads/ravdess

    Held-out actors: talkface prep ravdess ~/RAVDESS --split-by speaker --test-speakers 09,10,11,12
    """
    from data_recipes.ravdess import Ravdess

    run_and_report(
        Ravdess(),
        root,
        out,
        options(jobs, seed, split_by, test, val, face, flame, max_miss, song=song),
        json_out,
    )


@app.command("validate")
def validate_store(
    store: Path = typer.Argument(..., help="clip store folder"),
    sync: str = typer.Option(
        None,
        "--sync",
        help="also check that each face clip is in step with its sound, by this trained sync expert "
        "(e.g. sync/base; one trained on the store itself reads its faces best)",
    ),
    fix: bool = typer.Option(
        False,
        "--fix",
        help="with --sync: move the sound of each clip found off into step (both ends trimmed by the "
        "offset; unclear clips are left as they are)",
    ),
    device: str = DeviceOpt,
    json_out: Path = JsonOpt,
) -> None:
    """Check a clip store: files present, lengths agree, splits valid, values finite; with --sync,
    each face clip's offset from its sound (a sound shifted by hand, a voice over another face).

    Exits 1 when a problem is found, or a face clip is off its sound by more than a frame (and not
    fixed) or shows no sync the expert can read (its confidence no higher than against a sound the
    lips do not follow).

    Example: talkface prep validate data/mine --sync sync/mine --json check.json

    Sounds moved into step: talkface prep validate data/mine --sync sync/mine --fix
    """
    from ..data.store import manifest_from_sidecars, read_manifest, validate
    from ..device import resolve_device
    from ..eval.store_sync import SHORTEST, TOLERANCE, lag, store_sync

    if fix and not sync:
        raise typer.BadParameter("--fix moves the sounds that a sync check finds off: give --sync too")
    json_target(json_out)
    if fix:
        check_can_create(store / "manifest.jsonl")
    with working_in(store, "prep validate --fix") if fix else nullcontext():
        if fix:
            manifest_from_sidecars(store)  # what a stopped --fix moved
        problems = validate(store)
        n = len(read_manifest(store))
        rows = store_sync(store, sync, resolve_device(device)) if sync and not problems else []
        fixed = realign_all(store, [r for r in rows if r["sync"] == "off"]) if fix else []
    off = sorted((r for r in rows if r["sync"] in ("off", "unclear")), key=lambda r: r["lse_c"])
    shown = [
        table(f"{store}: {len(problems)} problem(s) in {n} clips", ["problem"], [[p] for p in problems])
        if problems
        else None
    ]
    if off:
        title = (
            f"{store}: {len(off)} of {len(rows)} face clips off their sound by more than {TOLERANCE} "
            f"frame, or unclear: a confidence (LSE-C) no higher than lips get from a sound they do not "
            f"follow ({sync}; offset > 0: the sound lags the face)"
        )
        cells = [  # an unclear clip's best offset is noise: not shown as what is heard
            [
                r["id"],
                r["sync"],
                r["offset"],
                lag(r["offset"]) if r["sync"] == "off" else "",
                r["lse_d"],
                r["lse_c"],
            ]
            for r in off
        ]
        shown.append(table(title, ["clip", "sync", "offset (frames)", "heard", "LSE-D", "LSE-C"], cells))
    report = {"store": str(store), "clips": n, "problems": problems, "sync": rows}
    emit(json_out, report | ({"fixed": fixed} if fix else {}), *shown)
    if fixed:
        console.print(
            f"moved the sound of {len(fixed)} clip(s) into step, each trimmed by its offset "
            f"(the sidecars keep it as sound_shift_frames); validate again to check them"
        )
    if sync and problems:
        console.print(f"no sync check by {sync} until these problems are fixed")
    unclear = sum(r["sync"] == "unclear" for r in off)
    if unclear > len(rows) / 2:
        console.print(
            f"{sync} reads no sync in {unclear} of {len(rows)} face clips: it may not know these faces "
            f"(train one on this store: talkface train-sync --data {store})"
        )
    short = sum(r["sync"] == "too short" for r in rows)
    if short:
        console.print(f"{short} face clip(s) under {SHORTEST} frames: too short for a sync check")
    if problems or len(off) > len(fixed):
        sys.exit(1)
    in_step = sum(r["sync"] == "in step" for r in rows)
    moved = f", {len(fixed)} moved into step" if fixed else ""
    said = f"; {in_step} face clip(s) in step with their sound ({sync}){moved}" if sync else ""
    console.print(f"{store}: {n} clips, no problems{said}")


def realign_all(store: Path, off: list[dict]) -> list[dict]:
    """Move the sound of each clip of `off` (store_sync's rows) by its offset, then the manifest:
    their new manifest records, with the offset moved."""
    from ..data.store import manifest_from_sidecars, realign

    with progress() as bar:
        job = bar.add_task("moving sounds into step", total=len(off), unit="clip")
        for r in off:
            realign(store, r["id"], r["offset"])
            bar.advance(job)
    offsets = {r["id"]: r["offset"] for r in off}
    return [r | {"offset": offsets[r["id"]]} for r in manifest_from_sidecars(store) if r["id"] in offsets]


@app.command("synthetic")
def synthetic(
    out: Path = OutOpt,
    jobs: int = JobsOpt,
    seed: int = SeedOpt,
    speakers: int = typer.Option(
        8, "--speakers", help="number of synthetic speakers (voice, pitch, mouth style)"
    ),
    sentences: int = typer.Option(2, "--sentences", help="sentences per speaker, emotion and intensity"),
    repetitions: int = typer.Option(
        1, "--repetitions", help="repetitions of each (slightly faster each time)"
    ),
    split_by: str = typer.Option("speaker", "--split-by", help="80/10/10 split by clip or by speaker"),
    test: str = TestOpt,
    val: str = ValOpt,
    json_out: Path = JsonOpt,
) -> None:
    """The embedded synthetic corpus: espeak-ng speech with exact ground-truth ICT faces.

    8 emotions x 2 intensities (neutral: 1) per sentence; 8 speakers x 2 sentences = 240 clips.

    Example: talkface prep synthetic --out data/synth --speakers 8 --seed 0
    """
    from data_recipes.synthetic import Synthetic

    opts = options(
        jobs, seed, split_by, test, val, speakers=speakers, sentences=sentences, repetitions=repetitions
    )
    run_and_report(Synthetic(), None, out, opts, json_out)


@app.command("hdtf")
def hdtf(
    root: Path = typer.Argument(..., help="folder of HDTF videos (any depth)"),
    out: Path = OutOpt,
    jobs: int = JobsOpt,
    seed: int = SeedOpt,
    split_by: str = SplitOpt,
    test: str = TestOpt,
    val: str = ValOpt,
    face: str = FaceOpt,
    flame: Path = FlameOpt,
    max_miss: float = MissOpt,
    annotations: Path = typer.Option(
        None,
        "--annotations",
        help="HDTF's HDTF_dataset folder (or the clone of HDTF's repository, or one xx_annotion_time.txt): "
        "full-length videos are cut into the talking parts it gives",
    ),
    json_out: Path = JsonOpt,
) -> None:
    """HDTF: every clip is tracked and fitted; the speaker is its video's name without numbers.

    A clip WDA_AmyKlobuchar1_003 is cut from the video WDA_AmyKlobuchar1 (its take: the clips of
    one video share a split) of the speaker WDA_AmyKlobuchar. Full-length downloads whose clips
    are there (the download scripts' _videos_raw/) are passed over. Full-length videos without
    clips are cut here with --annotations (clips Radio11_0, Radio11_1, ...).

    Example: talkface prep hdtf ~/HDTF/videos --out data/hdtf --split-by speaker

    Downloaded whole: talkface prep hdtf ~/yt --annotations ~/HDTF/HDTF_dataset --split-by speaker
    """
    from data_recipes.hdtf import Hdtf

    cut = str(annotations.resolve()) if annotations else None  # the same files from any folder
    opts = options(jobs, seed, split_by, test, val, face, flame, max_miss, annotations=cut)
    run_and_report(Hdtf(), root, out, opts, json_out)


@app.command("mead")
def mead(
    root: Path = typer.Argument(..., help="MEAD folder of speakers (M003/, W009/ ...) or one speaker"),
    out: Path = OutOpt,
    view: str = typer.Option("front", "--view", help="camera: front, left_30, down ..."),
    jobs: int = JobsOpt,
    seed: int = SeedOpt,
    split_by: str = SplitOpt,
    test: str = TestOpt,
    val: str = ValOpt,
    face: str = FaceOpt,
    flame: Path = FlameOpt,
    max_miss: float = MissOpt,
    json_out: Path = JsonOpt,
) -> None:
    """MEAD: video/<view>/<emotion>/level_<k>/NNN.mp4 with audio/<emotion>/level_<k>/NNN.m4a, read
    from each speaker's video.tar and audio.tar as downloaded (no need to unpack) or unpacked.

    Example: talkface prep mead ~/MEAD --out data/mead --view front --split-by speaker
    """
    from data_recipes.mead import Mead

    opts = options(jobs, seed, split_by, test, val, face, flame, max_miss, view=view)
    run_and_report(Mead(), root, out, opts, json_out)


@app.command("folder")
def folder(
    root: Path = typer.Argument(..., help="folder of videos and/or audio files"),
    out: Path = OutOpt,
    labels: Path = typer.Option(None, "--labels", help="CSV: path,speaker,emotion,intensity,statement,take"),
    jobs: int = JobsOpt,
    seed: int = SeedOpt,
    split_by: str = SplitOpt,
    test: str = TestOpt,
    val: str = ValOpt,
    face: str = FaceOpt,
    flame: Path = FlameOpt,
    max_miss: float = MissOpt,
    json_out: Path = JsonOpt,
) -> None:
    """Any videos (tracked and fitted) or audio files (audio-only clips), labels from a CSV (or
    from CREMA-D's names, 1001_DFA_ANG_XX, without one).

    Example: talkface prep folder ~/my_clips --labels labels.csv --out data/mine

    CREMA-D: talkface prep folder ~/CREMA-D --out data/crema --split-by speaker
    """
    from data_recipes.folder import Folder

    opts = options(
        jobs, seed, split_by, test, val, face, flame, max_miss, labels=str(labels) if labels else None
    )
    run_and_report(Folder(), root, out, opts, json_out)


@app.command("import")
def import_params(
    root: Path = typer.Argument(..., help="folder of per-clip parameter files"),
    out: Path = OutOpt,
    fmt: str = typer.Option(
        "emoca",
        "--format",
        help="emoca (FLAME codes .npz), etf (EmoTalk ARKit .npy), vertices (VOCASET-style .npy, T x 3V) "
        "or livelink (Live Link Face takes: timecoded ARKit CSV + .mov)",
    ),
    fps: float = typer.Option(
        None,
        "--fps",
        callback=frame_rate,
        help="frame rate of the files (default: emoca 25, etf 30, vertices: as long as the sound; "
        "livelink: the timecode's, by default from video_metadata.json or the codes)",
    ),
    templates: Path = typer.Option(
        None,
        "--templates",
        help="vertices: templates.pkl, each speaker's neutral mesh (V x 3); default: the one in ROOT or "
        "its parent",
    ),
    flame: Path = typer.Option(
        None, "--flame-model", help="vertices: folder with your FLAME files, for FLAME's 5023 vertices"
    ),
    audio_dir: Path = typer.Option(
        None,
        "--audio-dir",
        help="where NAME.wav lives (default: beside the file, or in wav/ or audio/ beside its folder)",
    ),
    labels: Path = typer.Option(None, "--labels", help="CSV: path,speaker,emotion,intensity,statement,take"),
    jobs: int = JobsOpt,
    seed: int = SeedOpt,
    split_by: str = SplitOpt,
    test: str = TestOpt,
    val: str = ValOpt,
    json_out: Path = JsonOpt,
) -> None:
    """Parameters tracked elsewhere (EMOCA/DECA FLAME codes, EmoTalk 3D-ETF blendshapes, Live Link
    Face takes from an iPhone) or vertex sequences (VOCASET as FaceFormer keeps it, or as its site
    gives it: a ROOT with data_verts.npy; fitted to FLAME or ICT-FaceKit) + audio.

    Example: talkface prep import ~/emoca_out --format emoca --audio-dir ~/wavs --out data/emoca

    Example: talkface prep import ~/vocaset --format vertices --flame-model ~/flame --out data/vocaset
    (FaceFormer's vocaset/ folder, or VOCASET's own download with data_verts.npy)

    Example: talkface prep import ~/takes/anna --format livelink --labels emotions.csv --out data/anna
    (take folders as the app shares them; the labels CSV may name a take by its folder)
    """
    from data_recipes.imports import Import

    opts = options(
        jobs,
        seed,
        split_by,
        test,
        val,
        flame=flame,
        format=fmt,
        fps=fps,
        templates=str(templates) if templates else None,
        labels=str(labels) if labels else None,
        audio_dir=str(audio_dir) if audio_dir else None,
    )
    run_and_report(Import(), root, out, opts, json_out)


@app.command("features")
def features(
    store: Path = typer.Argument(..., help="clip store folder"),
    hubert: Path = typer.Option(None, "--hubert", help="local HuBERT folder (default: log-mel front end)"),
    layer: int = typer.Option(-1, "--layer", help="HuBERT hidden layer (-1: last)"),
    device: str = typer.Option(None, "--device", help="cuda, mps or cpu (default: best available)"),
    json_out: Path = JsonOpt,
) -> None:
    """Cache 50 Hz content features for every clip (HuBERT if given, else log-mel); `train-sync`
    with the same HuBERT weights and --layer reads them instead of computing its own.

    Example: talkface prep features data/ravdess --hubert ~/models/hubert-large-ls960-ft --layer 9
    """
    from ..audio.features import content_encoder, precompute
    from ..device import resolve_device

    json_target(json_out)
    info = precompute(store, content_encoder(hubert, layer).to(resolve_device(device)))
    emit(json_out, info, table(f"features of {store}", list(info), [list(info.values())]))
