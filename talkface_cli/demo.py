"""`make demo`: the whole chain on the embedded defaults, as the commands a user would type.

Synthetic corpus -> tiny EDE, sync expert and EMG -> animate a held-out synthetic utterance and a
real RAVDESS recording from ../shared -> MP4s with audio. Each command is printed before it runs;
stages already done (a re-run) are skipped and training stages run with --resume (which starts a
run afresh when there is none), so an interrupted demo goes on where it stopped.

    python -m talkface_cli.demo [--out demo-output] [--shared ../shared]
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

# fewer EDE and EMG steps than the tiny presets, so the demo fits in 15 minutes on 2 CPU cores
EDE_STEPS, EMG_STEPS = 400, 600


def run(cmd: list[str], home: Path) -> None:
    print("\n$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    env = {**os.environ, "TALKFACE_HOME": str(home)}
    try:
        code = subprocess.run(cmd, env=env).returncode
    except KeyboardInterrupt:  # Ctrl-C reached the command too, which cleaned up after itself
        code = 130
    if code in (130, 143):
        print("demo: stopped; `make demo` again goes on where it stopped", file=sys.stderr)
        sys.exit(code)
    if code != 0:
        sys.exit("demo: the command above failed")


def have(name: str, home: Path) -> bool:
    return (home / "models" / name / "meta.json").is_file()


def held_out_wav(store: Path, out: Path) -> Path:
    """The audio of the first test-split clip of the store as a .wav (the demo's unseen speech)."""
    from talkface_cli.audio.io import write_wav
    from talkface_cli.data.store import load_clip, read_manifest

    rec = next(r for r in read_manifest(store) if r["split"] == "test")
    path = out / f"{rec['id']}.wav"
    if not path.is_file():
        tmp = path.with_name(f".{path.stem}.tmp.wav")
        write_wav(tmp, load_clip(store, rec["id"])["audio"])
        tmp.replace(path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("demo-output"))
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = ap.parse_args()
    out, home, started = args.out.resolve(), args.out.resolve() / "home", time.perf_counter()
    tf = [str(Path(sys.executable).with_name("talkface"))]
    store = out / "synth"
    run([*tf, "prep", "synthetic", "--out", str(store), "--speakers", "12"], home)
    if not have("ede/demo", home):
        run(
            [
                *tf,
                "train-ede",
                "--data",
                str(store),
                "--name",
                "ede/demo",
                "--set",
                f"train.steps={EDE_STEPS}",
                "--resume",
            ],
            home,
        )
    if not have("sync/demo", home):
        run(
            [
                *tf,
                "train-sync",
                "--data",
                str(store),
                "--name",
                "sync/demo",
                "--resume",
            ],
            home,
        )
    if not have("emg/demo", home):
        run(
            [*tf, "train-emg", "--data", str(store), "--ede", "ede/demo", "--sync", "sync/demo",
             "--name", "emg/demo", "--set", f"train.steps={EMG_STEPS}", "--resume"],
            home,
        )  # fmt: skip
    wav = held_out_wav(store, out)
    videos = [out / "synthetic-held-out.mp4"]
    run([*tf, "animate", str(wav), "--model", "emg/demo", "--out", str(out / "synthetic-held-out.npz"),
         "--render", str(videos[0])], home)  # fmt: skip
    ravdess = sorted((args.shared / "data/ravdess/Audio_Speech_16k").glob("Actor_0*/*-05-02-*.flac"))
    if ravdess:
        videos.append(out / "ravdess-angry.mp4")
        run([*tf, "animate", str(ravdess[0]), "--model", "emg/demo", "--out", str(out / "ravdess-angry.npz"),
             "--render", str(videos[1])], home)  # fmt: skip
    else:
        print(f"\n(no RAVDESS audio under {args.shared}: skipped the real-speech example)")
    print(f"\ndemo done in {(time.perf_counter() - started) / 60:.1f} min; videos:")
    for v in videos:
        print(f"  {v}")
    print("your own speech with the demo's models:")
    print(f"  {tf[0]} --home {home} animate speech.wav --out face.npz --render face.mp4")
    print("  (the demo's EDE learnt emotion from synthetic speech only and misreads real speech: choose one")
    print("   with --emotion neutral|calm|happy|sad|angry|fearful|disgust|surprised [--intensity 0..1])")


if __name__ == "__main__":
    main()
