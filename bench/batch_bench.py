"""Several speech files: one `talkface animate` for all of them against a shell loop of one
`talkface animate` per file, both as a user runs them (fresh processes, the CLI entry point), on
untrained tiny models in a temporary registry. The loop pays Python, torch and the models' loading
once per file; the batch once. Also checks that both give the same parameters."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.animate_bench import untrained
from bench.common import publish
from talkface_cli.audio.io import write_wav
from talkface_cli.config import make_config, to_dict
from talkface_cli.registry import Registry

FILES = 10
SECONDS = 3


def registry_with_untrained(home: Path) -> None:
    """ede/bench and emg/bench in `home`: the benchmark's seeded untrained tiny models."""
    ede, emg = untrained()
    ede_stage, emg_stage = make_config("ede", "tiny"), make_config("emg", "tiny")
    ede_stage.model, emg_stage.model = ede.cfg, emg.cfg
    reg = Registry(home)
    reg.save("ede/bench", ede.state_dict(), to_dict(ede_stage))
    reg.save("emg/bench", emg.state_dict(), to_dict(emg_stage), meta={"ede": "ede/bench"})


def animate(home: Path, speech: list[Path], out: Path) -> float:
    """Wall time of `talkface animate SPEECH... --out OUT` in a fresh process, as typed."""
    env = {**os.environ, "TALKFACE_HOME": str(home), "TALKFACE_NO_PROGRESS": "1"}
    cmd = [sys.executable, "-m", "talkface_cli", "animate", *map(str, speech), "--out", str(out)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="talkface-batch-") as tmp:
        tmp = Path(tmp)
        registry_with_untrained(tmp / "home")
        rng = np.random.default_rng(0)
        speech = []
        for i in range(FILES):
            speech.append(tmp / f"s{i:02d}.wav")
            write_wav(speech[-1], (0.1 * rng.normal(size=SECONDS * 16000)).astype(np.float32))
        loop = sum(animate(tmp / "home", [s], tmp / "loop") for s in speech)
        batch = animate(tmp / "home", speech, tmp / "batch")
        same = all(
            np.array_equal(
                np.load(tmp / "loop" / f"{s.stem}.npz")["params"],
                np.load(tmp / "batch" / f"{s.stem}.npz")["params"],
            )
            for s in speech
        )
    publish(
        "animate_batch",
        f"animate {FILES} files of {SECONDS} s: one run against a loop of runs",
        [
            {
                "files": FILES,
                "loop_of_runs_s": loop,
                "one_run_s": batch,
                "speedup": loop / batch,
                "loop_s_per_file": loop / FILES,
                "one_run_s_per_file": batch / FILES,
                "same_parameters": same,
            }
        ],
    )


if __name__ == "__main__":
    main()
