"""Sampling the EMG for a whole utterance: pad to a multiple of the stride, sample from the flow
prior with a seeded generator, crop. Convolutional throughout, so memory grows linearly with the
length and no frame cap is needed."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import TalkfaceError
from ..models.emg import EMG
from ..models.emg_fast import fast_sample


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


@torch.inference_mode()
def generate(
    emg: EMG,
    content: np.ndarray,
    emotion: np.ndarray,
    speaker: torch.Tensor,
    frames: int,
    temperature: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """content (2T, Dc), emotion (2T, We), speaker (1,) or (1, S) -> parameters (T, D)."""
    if emg.training:
        emg.eval()
    dev = next(emg.parameters()).device
    q = emg.cfg.stride
    padded = -(-frames // q) * q
    grow = lambda x: np.concatenate([x, np.repeat(x[-1:], 2 * padded - len(x), 0)])  # noqa: E731
    c = torch.from_numpy(grow(content[: 2 * frames]).astype(np.float32)).to(dev)
    e = torch.from_numpy(grow(emotion[: 2 * frames]).astype(np.float32)).to(dev)
    gen = torch.Generator().manual_seed(seed)
    out = fast_sample(emg, c, e, speaker.to(dev), temperature, gen)  # = emg.sample, one sequence
    return out[:frames].float().cpu().numpy()
