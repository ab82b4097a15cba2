"""`talkface animate` and `talkface swap-emotion`: speech in, an emotional face sequence out."""

from __future__ import annotations

import resource
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import typer

from data_recipes.labels import MEDIA

from ..audio.io import load_audio
from ..device import resolve_device
from ..errors import TalkfaceError
from ..face.sequence import ParamSequence, stored_made_by
from ..fsutil import Output, check_can_create
from ..made_by import digest, record, say_kept
from ..registry import Registry
from ..ui import console, json_target, report_rows
from .common import (
    DeviceOpt,
    FlameModelOpt,
    HubertAtOpt,
    JsonOpt,
    each_file,
    fail_if_any,
    files_in_folders,
    finite_number,
    seed_option,
    use_assets,
)
from .piped import named, stdin_read

ModelOpt = typer.Option(
    None, "--model", help="trained EMG (registry name; default: the newest emg entry that reads)"
)
OutOpt = typer.Option(
    None,
    "--out",
    "-o",
    help="output parameter sequence (.npz, with the speech inside), or a folder for it (a name without "
    "a suffix, or with several speech files: made if missing); default: the current folder. In a "
    "folder, outputs take the speech's name (and a folder's files their place under it), numbered "
    "(-2, -3, ...) if taken; the same work run again keeps what it made (a stopped batch goes on)",
)
RenderOpt = typer.Option(
    None, "--render", help="also render an MP4 with the speech to this path (a folder, as for --out)"
)
SpeakerOpt = typer.Option(
    None,
    "--speaker",
    help="training speaker: a name (s03) or its number (3); default: the average of all speakers",
)
TemperatureOpt = typer.Option(
    0.5,
    "--temperature",
    min=0.0,
    callback=finite_number,
    help="scale of the prior noise (0: the most likely motion)",
)
SeedOpt = seed_option("random seed (same seed, same output)")


def default_model() -> str:
    """The newest emg entry that reads. One that does not (weights cut short by a copy, its JSON
    edited) was passed over in silence, and with no other the registry was said to hold none: its
    problem is said instead, and beside a good one as a note."""
    reg = Registry()
    listed = reg.list()
    entries = [e for e in listed if not isinstance(e, tuple) and e.ref.kind == "emg"]
    broken = [e[1] for e in listed if isinstance(e, tuple) and e[0].kind == "emg"]
    if not entries and broken:
        raise TalkfaceError(f"no emg model in the registry at {reg.home} reads: {broken[0]}")
    if not entries:
        raise TalkfaceError(
            f"no emg model in the registry at {reg.home}: train one (talkface train-emg), or use the demo's "
            "with `talkface --home demo-output/home ...` after `make demo`"
        )
    say([f"passed over for the default model: {problem}" for problem in broken])
    return str(max(entries, key=lambda e: e.meta.get("created", "")).ref)


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def targets(
    out: Path | None, render: Path | None, several: bool, json_out: Path | None
) -> tuple[Output, Output | None]:
    """Where the .npz and the MP4 (None: no --render) of animate / swap-emotion go, checked before any
    work is done: names that could not be written are refused at once. A name without a suffix
    cannot be the .npz or the video: it is a folder."""
    json_target(json_out)
    npz = Output.given(out, several or (out is not None and not out.suffix), "--out", (".npz",))
    if not npz.folder:
        if out.suffix != ".npz":
            raise TalkfaceError(
                f"--out {out}: parameter sequences are written as .npz (`talkface render` makes a .csv, "
                "Live Link Face's CSV, a .glb or meshes of one)"
            )
        check_can_create(out)
    if render is None:
        return npz, None
    from ..render.video import VIDEO_OUT, check_video_out

    mp4 = Output.given(render, several or not render.suffix, "--render", VIDEO_OUT)
    if not mp4.folder:
        check_video_out(render)
    return npz, mp4


def make(  # noqa: ANN001 - anim: a lazily imported type
    anim,
    speech: Path,
    stem: str,
    made_by: str,
    outs: tuple[Output, Output | None],
    model: str,
    make_seq: Callable[[], ParamSequence],
) -> dict:
    """`make_seq()` written as `stem`.npz (and its MP4) in `outs`; an output of this very work found
    in a folder (`made_by`: its record) is kept instead, so a stopped batch goes on where it stopped.
    Prints the notes and returns the summary row."""
    npz, mp4 = outs
    out = npz.made_before(f"{stem}.npz", made_by, stored_made_by)
    if out is not None:
        summary = {"speech": str(speech), "model": model, "out": str(out), "kept": "out"}
    else:
        out = npz.name(f"{stem}.npz")
        summary = write_sequence(anim, speech, model, out, made_by, make_seq)
    if mp4 is not None:  # rendered from the .npz as `talkface render` would, or its MP4 kept
        from ..render.run import render_or_keep

        video = render_or_keep(mp4, f"{stem}.mp4", [out])
        summary["mp4"] = video["out"]
        if "kept" in video:
            summary["kept"] = ", ".join(filter(None, (summary.get("kept"), "mp4")))
    say(anim.notes)
    return summary


def write_sequence(  # noqa: ANN001 - anim: a lazily imported type
    anim, speech: Path, model: str, out: Path, made_by: str, make_seq: Callable[[], ParamSequence]
) -> dict:
    """`make_seq()` saved to `out` with its record; the summary row. The sequence (long speech
    included) is freed on return, before any render reads the .npz back."""
    started = time.perf_counter()  # the real-time factor times the animation, not loading models
    seq = make_seq()
    elapsed = time.perf_counter() - started  # before the (fsync'd) write, whose time is the disk's
    seq.save(out, made_by)
    return {
        "speech": str(speech),
        "model": model,
        "emotion": " -> ".join(anim.read),
        "frames": seq.num_frames,
        "seconds of speech": round(seq.num_frames / 25, 2),
        "real-time factor": round((seq.num_frames / 25) / max(elapsed, 1e-9), 1),
        "peak memory MiB": round(peak_memory_mb()),
        "out": str(out),
    }


def animate_record(  # noqa: ANN001 - anim: a lazily imported type
    work: str,
    anim,
    speech: Path,
    model: str,
    emotion: list,
    speaker: str | None,
    temperature: float,
    seed: int,
) -> str:
    """The record of animating `speech`: `emotion` is ["speech"], ["label", name, intensity] or
    ["references", digest, ...]."""
    return record(
        work,
        speech=digest(speech),
        model=[model, *anim.weights],
        emotion=emotion,
        speaker=speaker,
        temperature=temperature,
        seed=seed,
    )


def say(notes: list[str]) -> None:
    """Print the animator's notes for the user, then forget them."""
    for note in notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    notes.clear()


def run_all(  # noqa: ANN001 - anim: a lazily imported type
    anim, inputs: list[Path], one: Callable[[Path], dict], title: str, json_out: Path | None
) -> None:
    """`one(path)` for each input, each with its own notes and reads (the label's or the references'
    read is kept for all; their notes are said once, first); then the report, the hint to render, and
    exit 1 if any failed."""
    kept = list(anim.read)
    say(anim.notes)

    def work(path: Path) -> dict:
        anim.read[:], anim.notes[:] = kept, []
        return one(path)

    rows, failed = each_file(inputs, work, title)
    if rows:
        report_rows(title, rows, json_out)
        say_kept(rows)
        if "mp4" not in rows[0]:
            them = "it" if len(rows) == 1 else "them"
            outs = " ".join(shlex.quote(o) for o in dict.fromkeys(r["out"] for r in rows))
            console.print(f"to see {them}: talkface render {outs}", highlight=False, soft_wrap=True)
    fail_if_any(failed, len(inputs))


def animate(
    speech: list[Path] = typer.Argument(
        ...,
        help="speech (.wav/.flac/.mp3, or a video's audio track; '-': piped in, written as stdin.npz; a "
        "pipe's name, <(...) or a FIFO, is read as '-' is); several: each in turn; a folder: the speech "
        "and video files in it, at any depth, but the videos talkface rendered",
    ),
    out: Path = OutOpt,
    model: str = ModelOpt,
    speaker: str = SpeakerOpt,
    emotion_from: Path = typer.Option(
        None,
        "--emotion-from",
        help="take the emotion from this speech or video ('-' or a pipe's name: read once)",
    ),
    emotion: str = typer.Option(None, "--emotion", help="take the emotion from a label (e.g. happy)"),
    intensity: float = typer.Option(
        None, "--intensity", help="with --emotion: 0 neutral .. 1 the label's strongest (default 1)"
    ),
    temperature: float = TemperatureOpt,
    seed: int = SeedOpt,
    render: Path = RenderOpt,
    device: str = DeviceOpt,
    flame_model: Path = FlameModelOpt,
    hubert_at: Path = HubertAtOpt,
    json_out: Path = JsonOpt,
) -> None:
    """Turn speech into an emotional face-parameter sequence at 25 fps (and an MP4).

    The emotion comes from the speech itself unless --emotion-from or --emotion is given.

    Example: talkface animate speech.wav --speaker 3   (writes speech.npz; then: talkface render speech.npz)

    Named outputs: talkface animate speech.wav --emotion happy --out face.npz --render face.mp4

    Several files, models loaded once: talkface animate clips/*.wav --out faces --render videos

    A folder's speech and videos: talkface animate clips --out faces

    Piped: espeak-ng --stdout "Hello there" | talkface animate - --out hello.npz

    A pipe by name: talkface animate <(sox speech.wav -t wav - tempo 0.9) --out slow.npz
    """
    use_assets(flame_model, hubert_at)
    from ..inference.animate import Animator
    from ..inference.emotion import emotion_name
    from ..inference.generate import speaker_name
    from ..render.video import rendered_here

    if emotion_from is not None and emotion is not None:
        raise TalkfaceError("give either --emotion-from or --emotion, not both")
    if intensity is not None and emotion is None:  # it was dropped without a word
        raise TalkfaceError(
            f"--intensity {intensity:g}: only with --emotion LABEL (an emotion read from speech or a "
            "reference keeps its own strength)"
        )
    intensity = 1.0 if intensity is None else intensity
    found = files_in_folders(speech, MEDIA, "speech or video files", (out, render), rendered_here)
    speech, names = [f for f, _ in found], dict(found)
    npz, mp4 = targets(out, render, len(speech) > 1, json_out)
    with stdin_read([*speech, *filter(None, [emotion_from])]) as files:
        given = dict(zip(files, [*speech, emotion_from]))  # the copy of standard input -> "-"
        name = model or default_model()
        anim = Animator.load(name, resolve_device(device))
        speaker = speaker_name(anim.emg, speaker)  # checked once, before the speech is read; "3" -> "s03"
        embs, how = None, ["speech"]  # checked before the speech is read: a bad label fails at once
        if emotion is not None:
            embs = [anim.label(emotion, intensity)]
            how = ["label", emotion_name(emotion, list(anim.ede.cfg.emotions)), intensity]  # anger -> angry
        elif emotion_from is not None:
            embs, how = [anim.reference_emotion(files[-1])], ["references", digest(files[-1])]

        def one(path: Path) -> dict:
            def seq() -> ParamSequence:
                return anim(load_audio(path, shown=True), embs, speaker, temperature, seed, str(path))

            made_by = animate_record("animate", anim, path, name, how, speaker, temperature, seed)
            with named(path, given[path]):  # one of several: its error is printed here
                summary = make(anim, path, names[given[path]] or path.stem, made_by, (npz, mp4), name, seq)
            return summary | {"speech": str(given[path])}

        run_all(anim, files[: len(speech)], one, "animate", json_out)


def swap_emotion(
    content: Path = typer.Argument(
        ..., help="speech whose words drive the lips ('-' or a pipe's name, <(...): piped in)"
    ),
    references: list[Path] = typer.Argument(
        ...,
        help="emotion reference(s): speech or video ('-': speech piped in; a pipe's name: read once); "
        "several blend over time",
    ),
    out: Path = OutOpt,
    model: str = ModelOpt,
    speaker: str = SpeakerOpt,
    temperature: float = TemperatureOpt,
    seed: int = SeedOpt,
    render: Path = RenderOpt,
    device: str = DeviceOpt,
    flame_model: Path = FlameModelOpt,
    hubert_at: Path = HubertAtOpt,
    json_out: Path = JsonOpt,
) -> None:
    """Animate content speech with the emotion of other clips (lips from the content, emotion from
    the references; a video reference is tracked and read by the EDE video branch).

    Example: talkface swap-emotion content.wav emo.wav   (writes content-swap.npz)

    Named outputs: talkface swap-emotion content.wav angry.wav --out swapped.npz --render swapped.mp4

    Blend: talkface swap-emotion content.wav happy.wav sad.mp4 --out blend.npz

    Piped: espeak-ng --stdout "Hello there" | talkface swap-emotion - angry.wav --out hello.npz
    """
    use_assets(flame_model, hubert_at)
    from ..inference.animate import Animator
    from ..inference.generate import speaker_name

    npz, mp4 = targets(out, render, False, json_out)
    with stdin_read([content, *references]) as (piped_content, *refs):
        name = model or default_model()
        anim = Animator.load(name, resolve_device(device))
        speaker = speaker_name(anim.emg, speaker)
        # a bad content file fails before a video reference is tracked
        audio = load_audio(piped_content, shown=True)
        embs = [anim.reference_emotion(r) for r in refs]
        how = ["references", *(digest(r) for r in refs)]

        def one(path: Path) -> dict:
            def seq() -> ParamSequence:
                return anim(audio, embs, speaker, temperature, seed, str(path))

            made_by = animate_record("swap-emotion", anim, path, name, how, speaker, temperature, seed)
            summary = make(anim, path, f"{path.stem}-swap", made_by, (npz, mp4), name, seq)
            return summary | {"speech": str(content)}

        run_all(anim, [piped_content], one, "swap-emotion", json_out)
