"""Side-by-side example videos of an evaluation: ground truth | model | mean face."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.datasets import load_clips
from ..face.sequence import ParamSequence
from ..inference.animate import Animator
from ..registry import Registry
from ..render.video import render_mp4
from .run import sequences


def render_examples(
    model: str,
    stores: list[Path],
    split: str,
    report: dict,
    folder: Path,
    n: int,
    device: torch.device,
    temperature: float,
    seed: int,
) -> list[str]:
    """MP4s of the first n scored clips into folder/examples/; returns their paths."""
    anim = Animator.load(model, device)
    mean = np.array(Registry().read(model).meta["mean_params"], np.float32)
    wanted = report["clips"][:n]
    clips = [c for c in load_clips(stores, (split,), need_face=True) if c.id in wanted]
    names, out = list(anim.face.param_names), []
    for c in clips:
        pred, _, _ = sequences(anim, c, temperature, seed)
        seqs = [
            ParamSequence(p.astype(np.float32), names, anim.face.kind)
            for p in (c.params, pred, np.repeat(mean[None], c.frames, 0))
        ]
        path = folder / "examples" / f"{c.id}.mp4"
        render_mp4(anim.face, seqs, path, c.audio, size=256, labels=["ground truth", model, "mean face"])
        out.append(str(path))
    return out
