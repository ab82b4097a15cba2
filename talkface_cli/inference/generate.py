"""Sampling the EMG for a whole utterance: pad to a multiple of the stride, sample from the flow
prior with a seeded generator, crop. Convolutional throughout with a finite reach, so a long
utterance is sampled a window at a time with the same result: no frame cap, and the working
memory of one window whatever the length."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..errors import TalkfaceError
from ..models.emg import EMG, CondWaveNet
from ..models.emg_fast import base_noise, fast_sample

WINDOW = 1024  # latent steps sampled at once beyond the context (164 s of speech at stride 4)


def speaker_condition(emg: EMG, speaker: str | None) -> torch.Tensor:
    """A training speaker's id -> (1,) index; None -> uniform weights (1, S) over all speakers (an
    unseen speaker averages the speaker embeddings). The id as `speaker_name` takes it."""
    names = list(emg.cfg.speakers)
    name = speaker_name(emg, speaker)
    if name is None:
        return torch.full((1, max(1, len(names))), 1.0 / max(1, len(names)))
    return torch.tensor([names.index(name)])


def speaker_name(emg: EMG, speaker: str | None) -> str | None:
    """The training speaker an id names: its name ("s03", "Actor_03", "M003") in any case and
    with its number written any way ("S3", "actor_3"), or, when only one name carries that number,
    just the number ("3"). None for an unseen speaker (or a model without speaker conditioning);
    a one-line error for an id the model was not trained on."""
    names = list(emg.cfg.speakers)
    if speaker is None or not emg.cfg.speaker_conditioning:
        return None
    if speaker in names:
        return speaker
    key = _number if speaker.isdigit() else _spelling
    hits = [n for n in names if key(n) == key(speaker)]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise TalkfaceError(
            f"--speaker {speaker}: several training speakers answer to it ({', '.join(hits)}); "
            "give the whole name"
        )
    raise TalkfaceError(
        f"--speaker {speaker}: not a training speaker of this model ({', '.join(names[:12])}"
        f"{' ...' if len(names) > 12 else ''}); leave it out for an unseen speaker"
    )


def _number(name: str) -> int | None:
    """The number a speaker name ends in: "s03" -> 3, "Actor_12" -> 12, "M003" -> 3, "bob" -> None."""
    digits = name[len(name.rstrip("0123456789")) :]
    return int(digits) if digits else None


def _spelling(name: str) -> tuple[str, int | None]:
    """A speaker name as a user may type it: "Actor_03", "actor 3" -> ("actor", 3); "Bob" -> ("bob", None)."""
    digits = name[len(name.rstrip("0123456789")) :]
    return name[: len(name) - len(digits)].rstrip("_- ").casefold(), int(digits) if digits else None


def reach(emg: EMG) -> int:
    """Latent steps either side of a latent step whose inputs its output frames depend on: the
    dilated convolutions' reach ((k - 1) / 2 x dilation a layer) in every flow and the decoder,
    plus the frame-rate net's, in frames, rounded up to latent steps. Every other layer of
    sampling works frame by frame or on aligned patches of one latent step."""
    nets = [f.net for f in emg.flows] + [emg.dec]
    frames = net_reach(emg.frame) if emg.cfg.frame_layers else 0
    return sum(map(net_reach, nets)) + -(-frames // emg.cfg.stride)


def net_reach(net: CondWaveNet) -> int:
    return sum(c.dilation[0] * (c.kernel_size[0] - 1) // 2 for c in net.dilated)


def spans(steps: int, window: int, context: int) -> list[tuple[int, int]]:
    """The latent steps [a, b) sampled together: all at once up to `window` + 2 `context` of them,
    else `window` at a time (each sampled with `context` steps of its neighbours either side)."""
    if steps <= window + 2 * context:
        return [(0, steps)]
    return [(a, min(steps, a + window)) for a in range(0, steps, window)]


def rows(x: np.ndarray, a: int, b: int, device: torch.device) -> torch.Tensor:
    """Rows a..b of (N, W) as float32 on `device`, the last row repeated past N."""
    part = np.asarray(x[a : min(b, len(x))], np.float32)
    if len(part) < b - a:
        part = np.concatenate([part, np.repeat(np.asarray(x[-1:], np.float32), b - a - len(part), 0)])
    return torch.from_numpy(part).to(device)


@torch.inference_mode()
def generate(
    emg: EMG,
    content: np.ndarray,
    emotion: np.ndarray,
    speaker: torch.Tensor,
    frames: int,
    temperature: float = 0.5,
    seed: int = 0,
    window: int = WINDOW,
    advance: Callable[[int], object] | None = None,
) -> np.ndarray:
    """content (2T, Dc), emotion (2T, We), speaker (1,) or (1, S) -> parameters (T, D). The noise
    is drawn for the whole sequence at once; a long one is sampled `window` latent steps at a time
    with `reach` steps of context either side, so the result is the same as in one pass (to float
    rounding) while the working memory stays that of one window, whatever the length.
    `advance(n)`: told the frames of each window as it is done."""
    if emg.training:
        emg.eval()
    dev = next(emg.parameters()).device
    q = emg.cfg.stride
    steps = -(-frames // q)
    z = base_noise(emg, steps, temperature, torch.Generator().manual_seed(seed))  # (steps, latent)
    content, emotion, spk = content[: 2 * frames], emotion[: 2 * frames], speaker.to(dev)
    out = np.empty((frames, emg.cfg.params), np.float32)
    context = reach(emg)
    for a, b in spans(steps, window, context):
        lo, hi = max(0, a - context), min(steps, b + context)
        c, e = (rows(x, 2 * q * lo, 2 * q * hi, dev) for x in (content, emotion))
        y = fast_sample(emg, c, e, spk, z[lo:hi])[q * (a - lo) : q * (b - lo)]  # = emg.sample, one sequence
        out[q * a : min(frames, q * b)] = y[: frames - q * a].float().cpu().numpy()
        if advance:
            advance(min(frames, q * b) - q * a)
    return out
