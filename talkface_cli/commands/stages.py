"""Subcommands whose stage has not landed yet: each exits with code 2 and one line saying so.

Their help already shows the planned usage, so scripts can be written against it. Each moves to a
module of its own when its stage lands.
"""

from __future__ import annotations

import typer

from .common import not_landed

PLANNED = {
    "prep": (
        4,
        "Prepare a corpus into a clip store (audio, face parameters, labels, features).",
        "talkface prep ravdess PATH/TO/RAVDESS --out data/ravdess",
    ),
    "train-ede": (
        5,
        "Train the emotional disentanglement encoder (audio + video emotion space).",
        "talkface train-ede --data data/synth --preset tiny --name ede/synth",
    ),
    "train-sync": (
        6,
        "Train the lip-sync expert on content features and mouth landmarks.",
        "talkface train-sync --data data/synth --preset tiny --name sync/synth",
    ),
    "train-emg": (
        7,
        "Train the emotional motion generator (VAE + flow prior).",
        "talkface train-emg --data data/synth --ede ede/synth --sync sync/synth --name emg/synth",
    ),
    "animate": (
        7,
        "Turn a speech file into an emotional face-parameter sequence (and an MP4).",
        "talkface animate speech.wav --speaker 3 --out face.npz --render face.mp4",
    ),
    "swap-emotion": (
        7,
        "Animate content speech with the emotion of other reference clips.",
        "talkface swap-emotion content.wav angry.wav --out swapped.npz",
    ),
    "render": (
        3,
        "Render a parameter sequence to an MP4 with its audio.",
        "talkface render face.npz --audio speech.wav --out face.mp4",
    ),
    "eval": (
        8,
        "Score a model on a clip store: LVE, EVE, FDD, LSE-D/C, VE-FID, emotion accuracy.",
        "talkface eval --emg emg/synth --data data/synth --split test",
    ),
}


def make(name: str) -> typer.models.CommandInfo:
    issue, summary, example = PLANNED[name]

    def command(ctx: typer.Context) -> None:
        not_landed(name, issue)

    command.__doc__ = f"{summary}\n\nExample: {example}\n\n(Not landed yet: issue #{issue}.)"
    return command
