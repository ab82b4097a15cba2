"""`talkface animate` and `talkface swap-emotion`: speech in, an emotional face sequence out."""

from __future__ import annotations

import resource
import shlex
import sys
import time
from pathlib import Path

import typer

from ..audio.io import load_audio
from ..device import resolve_device
from ..errors import TalkfaceError
from ..fsutil import check_can_create, free_name
from ..registry import Registry
from ..ui import console, json_target, report
from .common import DeviceOpt, JsonOpt

ModelOpt = typer.Option(None, "--model", help="trained EMG (registry name; default: the newest emg entry)")
OutOpt = typer.Option(
    None,
    "--out",
    "-o",
    help="output parameter sequence (.npz, with the speech inside); default: the speech's name with "
    ".npz in the current folder, numbered (-2, -3, ...) if taken",
)
RenderOpt = typer.Option(None, "--render", help="also render an MP4 with the speech to this path")
SpeakerOpt = typer.Option(
    None,
    "--speaker",
    help="training speaker: a name (s03) or its number (3); default: the average of all speakers",
)
TemperatureOpt = typer.Option(
    0.5, "--temperature", min=0.0, help="scale of the prior noise (0: the most likely motion)"
)
SeedOpt = typer.Option(0, "--seed", help="random seed (same seed, same output)")


def default_model() -> str:
    reg = Registry()
    entries = [e for e in reg.list() if not isinstance(e, tuple) and e.ref.kind == "emg"]
    if not entries:
        raise TalkfaceError(
            f"no emg model in the registry at {reg.home}: train one (talkface train-emg), or use the demo's "
            "with `talkface --home demo-output/home ...` after `make demo`"
        )
    return str(max(entries, key=lambda e: e.meta.get("created", "")).ref)


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def check_outputs(out: Path, render: Path | None, json_out: Path | None) -> None:
    """Refuse output names that could not be written, before any work is done."""
    if out.suffix != ".npz":
        raise TalkfaceError(f"--out {out}: parameter sequences are written as .npz")
    check_can_create(out)
    json_target(json_out)
    if render is not None:
        from ..render.video import check_video_out

        check_video_out(render)


def _finish(
    animator, seq, speech: Path, model: str, out: Path, render: Path | None, started: float, json_out
) -> None:  # noqa: ANN001
    elapsed = time.perf_counter() - started  # before the (fsync'd) write, whose time is the disk's
    seq.save(out)
    summary = {
        "speech": str(speech),
        "model": model,
        "emotion": " -> ".join(animator.read),
        "frames": seq.num_frames,
        "seconds of speech": round(seq.num_frames / 25, 2),
        "real-time factor": round((seq.num_frames / 25) / max(elapsed, 1e-9), 1),
        "peak memory MiB": round(peak_memory_mb()),
        "out": str(out),
    }
    if render is not None:
        from ..render.video import render_mp4

        render_mp4(animator.face, [seq], render, seq.audio)
        summary["mp4"] = str(render)
    for note in animator.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    report("animate", list(summary), [list(summary.values())], json_out)
    if render is None:
        console.print(f"to see it: talkface render {shlex.quote(str(out))}", highlight=False, soft_wrap=True)


def animate(
    speech: Path = typer.Argument(..., help="speech (.wav/.flac/.mp3, or a video's audio track)"),
    out: Path = OutOpt,
    model: str = ModelOpt,
    speaker: str = SpeakerOpt,
    emotion_from: Path = typer.Option(
        None, "--emotion-from", help="take the emotion from this speech or video"
    ),
    emotion: str = typer.Option(None, "--emotion", help="take the emotion from a label (e.g. happy)"),
    intensity: float = typer.Option(
        1.0, "--intensity", help="with --emotion: 0 neutral .. 1 the label's strongest"
    ),
    temperature: float = TemperatureOpt,
    seed: int = SeedOpt,
    render: Path = RenderOpt,
    device: str = DeviceOpt,
    json_out: Path = JsonOpt,
) -> None:
    """Turn speech into an emotional face-parameter sequence at 25 fps (and an MP4).

    The emotion comes from the speech itself unless --emotion-from or --emotion is given.

    Example: talkface animate speech.wav --speaker 3   (writes speech.npz; then: talkface render speech.npz)

    Named outputs: talkface animate speech.wav --emotion happy --out face.npz --render face.mp4
    """
    from ..inference.animate import Animator

    if emotion_from is not None and emotion is not None:
        raise TalkfaceError("give either --emotion-from or --emotion, not both")
    out = out or free_name(f"{speech.stem}.npz")
    check_outputs(out, render, json_out)
    name = model or default_model()
    anim = Animator.load(name, resolve_device(device))
    started = time.perf_counter()  # the real-time factor times the animation, not loading the models
    embs = None  # checked before the speech is read: a bad label fails at once
    if emotion is not None:
        embs = [anim.label(emotion, intensity)]
    elif emotion_from is not None:
        embs = [anim.reference_emotion(emotion_from)]
    audio = load_audio(speech)
    seq = anim(audio, embs, speaker, temperature, seed, str(speech))
    _finish(anim, seq, speech, name, out, render, started, json_out)


def swap_emotion(
    content: Path = typer.Argument(..., help="speech whose words drive the lips"),
    references: list[Path] = typer.Argument(
        ..., help="emotion reference(s): speech or video; several blend over time"
    ),
    out: Path = OutOpt,
    model: str = ModelOpt,
    speaker: str = SpeakerOpt,
    temperature: float = TemperatureOpt,
    seed: int = SeedOpt,
    render: Path = RenderOpt,
    device: str = DeviceOpt,
    json_out: Path = JsonOpt,
) -> None:
    """Animate content speech with the emotion of other clips (lips from the content, emotion from
    the references; a video reference is tracked and read by the EDE video branch).

    Example: talkface swap-emotion content.wav emo.wav   (writes content-swap.npz)

    Named outputs: talkface swap-emotion content.wav angry.wav --out swapped.npz --render swapped.mp4

    Blend: talkface swap-emotion content.wav happy.wav sad.mp4 --out blend.npz
    """
    from ..inference.animate import Animator

    out = out or free_name(f"{content.stem}-swap.npz")
    check_outputs(out, render, json_out)
    name = model or default_model()
    anim = Animator.load(name, resolve_device(device))
    started = time.perf_counter()  # the real-time factor times the animation, not loading the models
    audio = load_audio(content)
    embs = [anim.reference_emotion(r) for r in references]
    seq = anim(audio, embs, speaker, temperature, seed, str(content))
    _finish(anim, seq, content, name, out, render, started, json_out)
