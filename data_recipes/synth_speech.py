"""Synthesise a list of utterances in a fresh process (`python -m data_recipes.synth_speech`).

espeak-ng carries state from one utterance to the next (a few samples of drift), so the same
request gives the same audio only when the process and its sequence of utterances are the same.
The synthetic recipe therefore synthesises each speaker's utterances in a fresh process, in a
fixed order. Reads JSON requests on stdin, writes one .npz (16 kHz audio + phoneme timing).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import soxr


def synthesise(requests: list[dict], out: str) -> None:
    from talkface_cli.audio.espeak import Espeak

    engine = Espeak()
    arrays: dict[str, np.ndarray] = {}
    phonemes = []
    for i, r in enumerate(requests):
        speech = engine.say(r["text"], r["voice"], r["rate"], r["pitch"], r["range"], r["volume"])
        arrays[f"audio_{i}"] = soxr.resample(speech.audio, speech.sample_rate, 16000, quality="HQ").astype(
            np.float32
        )
        phonemes.append(speech.phonemes)
    arrays["phonemes"] = np.array(json.dumps(phonemes))
    np.savez(out, **arrays)


if __name__ == "__main__":
    synthesise(json.loads(sys.stdin.read()), sys.argv[1])
