"""`animate` and `swap-emotion`: speech in, a face-parameter sequence out.

Content comes from the content encoder the model was trained with (log-mel or a local HuBERT),
emotion from the EDE: of the speech itself (per 10 s chunk, blended over time), of reference
speech or video, or of a label's saved centroid; the speaker from its id, or the average of all
speaker embeddings for an unseen speaker.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ..audio.features import encode, speech_level_db, trained_content_encoder
from ..audio.io import is_video, load_audio
from ..errors import TalkfaceError
from ..face.base import FaceModel
from ..face.load import load_face_model
from ..face.sequence import ParamSequence
from ..models.ede import EDE
from ..models.emg import EMG
from ..registry import Registry
from ..ui import progress
from .emotion import (
    emotion_name,
    emotion_track,
    label_emotion,
    motion_emotion,
    nearest_emotion,
    pooled,
    speech_emotion,
)
from .generate import generate, speaker_condition

LONG = 2 * 60 * 25  # frames: speech of 2 minutes or more shows its three passes under progress bars
LEVEL_MARGIN = 6.0  # dB outside the EDE's training levels before animate says so
SILENT_DB = -70.0  # active level (dBFS) at or below which the speech is taken for silence


def chunk_names(names: list[str]) -> str:
    """The emotions read from speech chunk by chunk, for the user: "sad -> happy" in time order,
    or counts once there are more than four changes ("fearful 20/30, sad 10/30")."""
    runs = [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]
    if len(runs) <= 5:
        return " -> ".join(runs)
    return ", ".join(f"{n} {c}/{len(names)}" for n, c in Counter(names).most_common())


@dataclass
class Animator:
    emg: EMG
    ede: EDE
    face: FaceModel
    encoder: torch.nn.Module
    ede_levels: list[float] | None = None  # active speech levels the EDE was trained on (5-95%)
    weights: tuple[str, ...] = ()  # sha256 of the EMG's and the EDE's weights: outputs' records name them
    notes: list[str] = field(default_factory=list)  # for the user, printed by the command
    read: list[str] = field(default_factory=list)  # the emotions that drove the face, in time order

    @classmethod
    def load(
        cls, name: str, device: torch.device, ict: str | None = None, flame: str | None = None
    ) -> Animator:
        reg = Registry()
        emg = reg.load_model(name, device, kind="emg")
        entry = reg.read(name)
        ede_ref = reg.parent(entry, "ede")
        ede = reg.load_model(ede_ref, device, kind="ede")
        encoder = trained_content_encoder(emg.cfg, name).to(device)
        face = load_face_model(emg.cfg.face_model, ict=ict, flame=flame)
        heard = ede.cfg.front == "logmel" and not ede.cfg.level  # hears the absolute level
        ede_meta = reg.read(ede_ref).meta
        levels = ede_meta.get("speech_level_dbfs") if heard else None
        weights = (entry.meta.get("model_sha256"), ede_meta.get("model_sha256"))
        return cls(emg, ede, face, encoder, levels, weights)

    def reference_emotion(self, path: Path) -> np.ndarray:
        """Emotion embedding (W,) of a reference: speech through the EDE audio branch; a video
        is tracked, fitted and rendered, and goes through the video branch (a video file without
        a picture is speech)."""
        path = Path(path)
        if not is_video(path):
            audio = load_audio(path, shown=True)
            self.check_level(audio, str(path), emotion=True, reference=True)
            emb, modality = pooled(speech_emotion(self.ede, audio)), "audio"
        else:
            from ..track.fit import fit_landmarks
            from ..track.video import face_runs, track_video

            if not self.ede.centroids_video.any():  # see `training.emg.EMGTask`
                raise TalkfaceError(
                    f"{path}: this model's EDE never saw a face (trained on speech alone) and cannot "
                    "read a video's emotion; give speech as the reference"
                )
            track = track_video(path, shown=True)
            runs = face_runs(track.found, track.starts)  # no face made up where missed; one per shot
            lmk = np.concatenate([track.landmarks[a:b] for a, b in runs])
            fit = fit_landmarks(self.face, lmk, track.size, segments=[b - a for a, b in runs])
            emb, modality = motion_emotion(self.ede, self.face, fit.params), "video"
        self.read.append(f"{nearest_emotion(self.ede, emb, modality)} ({path.name})")
        return emb

    def __call__(
        self,
        audio: np.ndarray,
        emotions: list[np.ndarray] | None = None,
        speaker: str | None = None,
        temperature: float = 0.5,
        seed: int = 0,
        source: str = "the speech",
    ) -> ParamSequence:
        """(N,) 16 kHz speech -> parameters at 25 fps. `emotions`: embeddings to blend over time
        (default: the speech's own, per 10 s chunk); `source` names the speech in errors."""
        frames = max(1, round(len(audio) / 640))
        if frames < 2:
            raise TalkfaceError(
                f"{source}: {len(audio) / 16:.0f} ms of speech, shorter than two video frames (80 ms)"
            )
        with progress(disable=frames < LONG) as bar:

            def bar_of(what: str) -> Callable[[int], object]:
                """A bar for one pass over the speech, told the frames it has done."""
                return partial(
                    bar.advance, bar.add_task(f"{what} {Path(source).name}", total=frames, unit="frame")
                )

            silent = not emotions and self.check_level(audio, source, emotion=True) <= SILENT_DB
            if emotions:
                self.check_level(audio, source, emotion=False)
                embs = emotions
            elif silent and "neutral" in self.ede.cfg.emotions:
                # the EDE reads silence as an emotion of its own (the demo's: happy); a face that hears
                # nothing said shows none
                embs = [label_emotion(self.ede, "neutral")]
                self.read.append("neutral (no speech heard)")
            else:
                embs = list(speech_emotion(self.ede, audio, advance=bar_of("emotion of")))
                self.read.append(
                    f"{chunk_names([nearest_emotion(self.ede, e) for e in embs])} (read from the speech)"
                )
            content = encode(self.encoder, audio, frames, advance=bar_of("content of"))
            params = generate(
                self.emg,
                content,
                emotion_track(embs, frames),
                speaker_condition(self.emg, speaker),
                frames,
                temperature,
                seed,
                advance=bar_of("motion for"),
            )
        return ParamSequence(
            params,
            list(self.face.param_names),
            self.face.kind,
            audio=audio.astype(np.float32, copy=False),
        )

    def check_level(self, audio: np.ndarray, source: str, emotion: bool, reference: bool = False) -> float:
        """The audio's active level (dBFS), with notes for the user: the audio is silent; or, when the
        EDE reads its `emotion`, it is far louder or quieter than the EDE's training speech (a log-mel
        EDE takes loudness for emotion). A silent emotion `reference` is refused: its emotion would
        be silence's."""
        level = speech_level_db(audio)
        if level <= SILENT_DB and reference:
            raise TalkfaceError(f"{source}: no speech heard in this emotion reference ({level:.0f} dBFS)")
        if level <= SILENT_DB:
            note = f"{source}: no speech heard (active level {level:.0f} dBFS), the lips stay still"
            self.notes.append(note)
        elif emotion and self.ede_levels is not None:
            lo, hi = self.ede_levels
            if not lo - LEVEL_MARGIN <= level <= hi + LEVEL_MARGIN:
                self.notes.append(
                    f"{source}: speech at {level:.0f} dBFS, the emotion model was trained on {lo:.0f} to "
                    f"{hi:.0f} dBFS and takes loudness for emotion; the emotion it reads may be off "
                    "(--emotion LABEL sets one)"
                )
        return level

    def label(self, emotion: str, intensity: float) -> np.ndarray:
        emb = label_emotion(self.ede, emotion, intensity)
        self.read.append(f"{emotion_name(emotion, list(self.ede.cfg.emotions))} x{intensity:g}")
        return emb
