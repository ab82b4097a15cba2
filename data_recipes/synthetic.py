"""`talkface prep synthetic`: the embedded default corpus, with exact ground truth.

Speech from espeak-ng (offline) in several voices; 8 emotions x 2 intensities (neutral: one, as
in RAVDESS) carried by prosody (pitch level and range, rate, volume: the deviation from neutral is
doubled for the strong intensity) and by the face (an expression offset per emotion on ICT's
ARKit shapes, scaled by intensity and by the speaker's expressiveness). Lips follow the
synthesiser's own phoneme timing: each phoneme's viseme target (jaw and mouth shapes) held over
its interval at 100 Hz, smoothed with a 25 ms Gaussian (coarticulation), sampled at 25 fps; over
the central half of each bilabial /p b m/ every lip-parting shape (emotion offsets too) is
scaled to 3%, so the lips meet. As in a recording, each utterance sits between 0.1-0.6 s of
silence (mouth at rest, the expression held) over a noise floor of -90 to -50 dBFS. Blinks at
random (mean every 3 s), small head motion, and a speaker style: how wide the speaker opens the
mouth, voice, pitch and rate.
Everything is seeded; each speaker's speech is made in a fresh process in a fixed order, so two
runs with one seed give identical stores whatever --jobs is.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkface_cli.data.store import HOP, is_written, write_clip
from talkface_cli.errors import TalkfaceError

from .base import Job, PrepOptions

EMOTIONS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
SENTENCES = [
    "Kids are talking by the door.", "Dogs are sitting by the door.", "The big boat moved past the old pier.",
    "Please bring me a map of the bay.", "My brother baked a warm loaf of bread.",
    "We made it home before the storm.",
    "A bright moon hung above the empty beach.", "Maybe the plumber will come back on Monday.",
    "Bob opened the window to let the breeze in.", "The pilot spoke about the weather over the mountains.",
    "Put the blue book back on the bottom shelf.", "She bought apples, plums and a melon.",
    "Every morning the baker opens his shop at five.", "Mom painted the bedroom a pale shade of pink.",
    "The museum will be closed for a week in May.", "I hope you remember to bring the tickets.",
]  # fmt: skip
VOICES = ["en-us", "en-us+f3", "en-us+m3", "en+f2", "en-us+m7", "en+f4", "en-gb-x-rp", "en-us+f2"]
# emotion -> (pitch, range, rate, volume) deviation from the speaker's neutral (pitch/range 0-99 scale);
# the directions differ between emotions, so a strong one never sits where a normal other one does
PROSODY = {
    "neutral": (0, 0, 0, 0), "calm": (-6, -25, -25, 0), "happy": (15, 25, 25, 15),
    "sad": (-20, -15, -45, -40),
    "angry": (5, 10, 40, 70), "fearful": (28, -10, 55, -25), "disgust": (-15, 20, -35, 20),
    "surprised": (30, 45, -15, 30),
}  # fmt: skip
# emotion -> ICT expression offsets at full (strong) intensity
FACE = {
    "neutral": {},
    "calm": {"eyeBlink_L": 0.4, "eyeBlink_R": 0.4, "mouthSmile_L": 0.3, "mouthSmile_R": 0.3,
             "browDown_L": 0.15, "browDown_R": 0.15},
    "happy": {"mouthSmile_L": 0.7, "mouthSmile_R": 0.7, "cheekSquint_L": 0.5, "cheekSquint_R": 0.5,
              "eyeSquint_L": 0.25, "eyeSquint_R": 0.25},
    "sad": {"mouthFrown_L": 0.6, "mouthFrown_R": 0.6, "browInnerUp_L": 0.7, "browInnerUp_R": 0.7,
            "eyeBlink_L": 0.2, "eyeBlink_R": 0.2, "mouthShrugLower": 0.3},
    "angry": {"browDown_L": 0.8, "browDown_R": 0.8, "eyeSquint_L": 0.4, "eyeSquint_R": 0.4,
              "noseSneer_L": 0.35, "noseSneer_R": 0.35, "mouthPress_L": 0.3, "mouthPress_R": 0.3},
    "fearful": {"browInnerUp_L": 0.7, "browInnerUp_R": 0.7, "browOuterUp_L": 0.4, "browOuterUp_R": 0.4,
                "eyeWide_L": 0.6, "eyeWide_R": 0.6, "mouthStretch_L": 0.45, "mouthStretch_R": 0.45},
    "disgust": {"noseSneer_L": 0.75, "noseSneer_R": 0.75, "mouthUpperUp_L": 0.5, "mouthUpperUp_R": 0.5,
                "browDown_L": 0.35, "browDown_R": 0.35, "cheekSquint_L": 0.3, "cheekSquint_R": 0.3},
    "surprised": {"browInnerUp_L": 0.75, "browInnerUp_R": 0.75, "browOuterUp_L": 0.75, "browOuterUp_R": 0.75,
                  "eyeWide_L": 0.7, "eyeWide_R": 0.7, "jawOpen": 0.12},
}  # fmt: skip
INTENSITY_SCALE = {1: 0.5, 2: 1.0}
# viseme targets on ICT shapes; the jaw and lip-rounding entries scale with the speaker's mouth style
VISEMES = {
    "rest": {},
    "bilabial": {"mouthPress_L": 0.3, "mouthPress_R": 0.3},
    "labiodental": {"jawOpen": 0.08, "mouthRollLower": 0.5, "mouthUpperUp_L": 0.15, "mouthUpperUp_R": 0.15},
    "open": {"jawOpen": 0.6, "mouthLowerDown_L": 0.2, "mouthLowerDown_R": 0.2},
    "mid": {"jawOpen": 0.38, "mouthStretch_L": 0.15, "mouthStretch_R": 0.15},
    "close": {"jawOpen": 0.16, "mouthStretch_L": 0.35, "mouthStretch_R": 0.35, "mouthSmile_L": 0.1,
              "mouthSmile_R": 0.1},
    "round": {"jawOpen": 0.28, "mouthPucker": 0.6, "mouthFunnel": 0.45},
    "consonant": {"jawOpen": 0.14},
}  # fmt: skip
SCALED = {"jawOpen", "mouthLowerDown_L", "mouthLowerDown_R", "mouthPucker", "mouthFunnel"}
# shapes that part the lips: held shut during bilabials, whatever the emotion adds
OPENING = [
    "jawOpen",
    "mouthLowerDown_L",
    "mouthLowerDown_R",
    "mouthUpperUp_L",
    "mouthUpperUp_R",
    "mouthStretch_L",
    "mouthStretch_R",
    "mouthFunnel",
    "mouthSmile_L",
    "mouthSmile_R",
]
STEP = 0.01  # s: resolution of the viseme track


def viseme_of(phoneme: str) -> str:
    """espeak-ng phoneme mnemonic (stress marks stripped) -> viseme class."""
    p = phoneme.strip("'`,%=")
    if not p or p[0] == "_":
        return "rest"
    c = p[0]
    if c in "pbm":
        return "bilabial"
    if c in "fv":
        return "labiodental"
    if c in "oUuw" or p.startswith("O"):
        return "round"
    if c in "aAV0Q" or p.startswith("aI") or p.startswith("aU"):
        return "open"
    if c in "iIj":
        return "close"
    if c in "eE@3":
        return "mid"
    return "consonant"


@dataclass(frozen=True)
class Speaker:
    index: int
    voice: str
    pitch: int
    range: int
    rate: int
    mouth: float  # how wide the speaker opens the mouth (x jaw and lip rounding)
    expressive: float  # scale of the emotion offsets
    shape: tuple[float, ...]  # ICT identity coefficients

    @property
    def name(self) -> str:
        return f"s{self.index:02d}"


def speakers(n: int, seed: int) -> list[Speaker]:
    rng = np.random.default_rng([seed, 7])
    out = []
    for i in range(n):
        out.append(
            Speaker(
                i,
                VOICES[i % len(VOICES)],
                int(rng.integers(35, 65)),
                int(rng.integers(40, 60)),
                int(rng.integers(150, 175)),
                float(rng.uniform(0.7, 1.3)),
                float(rng.uniform(0.85, 1.15)),
                tuple(float(x) for x in rng.normal(0, 0.8, 8)),
            )
        )
    return out


def clip_specs(speaker: Speaker, sentences: int, repetitions: int) -> list[dict]:
    specs = []
    for emotion in EMOTIONS:
        for intensity in (1,) if emotion == "neutral" else (1, 2):
            for k in range(sentences):
                sid = (k + speaker.index) % len(SENTENCES)
                sentence = SENTENCES[sid]
                for rep in range(1, repetitions + 1):
                    cid = f"{speaker.name}-{emotion}-{intensity}-t{sid:02d}-r{rep}"
                    specs.append(
                        {
                            "id": cid,
                            "emotion": emotion,
                            "intensity": intensity,
                            "statement": sentence,
                            "repetition": rep,
                        }
                    )
    return specs


def prosody(speaker: Speaker, emotion: str, intensity: int, rep: int) -> dict:
    k = 1.0 if intensity == 1 else 2.0
    dp, dr, drate, dv = PROSODY[emotion]
    clip = lambda v, lo, hi: int(min(hi, max(lo, round(v))))  # noqa: E731
    return {
        "pitch": clip(speaker.pitch + k * dp, 0, 99),
        "range": clip(speaker.range + k * dr, 0, 99),
        "rate": clip(speaker.rate + k * drate + 4 * (rep - 1), 80, 450),
        "volume": clip(100 + k * dv, 10, 200),
    }


def lip_track(
    phonemes: list[tuple[str, float]], duration: float, names: list[str], mouth: float
) -> np.ndarray:
    """Viseme targets at 100 Hz, smoothed (coarticulation), bilabials shut at their centre. (N, 53)"""
    n = int(np.ceil(duration / STEP)) + 1
    track = np.zeros((n, len(names)), np.float32)
    col = {name: i for i, name in enumerate(names)}
    bounds = [
        (p, t, phonemes[i + 1][1] if i + 1 < len(phonemes) else duration) for i, (p, t) in enumerate(phonemes)
    ]
    for p, start, end in bounds:
        a, b = int(start / STEP), max(int(start / STEP) + 1, int(end / STEP))
        for shape, value in VISEMES[viseme_of(p)].items():
            track[a:b, col[shape]] = value * (mouth if shape in SCALED else 1.0)
    sigma = 0.025 / STEP
    x = np.arange(-3 * int(sigma), 3 * int(sigma) + 1)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    track = np.stack(
        [
            np.convolve(np.pad(track[:, j], len(x) // 2, mode="edge"), kernel, mode="valid")
            for j in range(track.shape[1])
        ],
        1,
    )
    closure = np.zeros(n, np.float32)
    t = np.arange(n) * STEP
    for p, start, end in bounds:
        if viseme_of(p) == "bilabial":
            mid, half = (start + end) / 2, max(STEP, (end - start) / 4)
            closure = np.maximum(closure, np.clip(1 - (np.abs(t - mid) - half) / 0.02, 0, 1))
    return track, closure


def face_sequence(
    spk: Speaker, spec: dict, phonemes: list, frames: int, names: list[str], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth parameters (T, 53) and head pose (T, 6) of one clip."""
    duration = frames / 25
    track, closure = lip_track(phonemes, duration, names, spk.mouth)
    t_idx = np.minimum(((np.arange(frames) + 0.5) / 25 / STEP).astype(int), len(track) - 1)
    params = track[t_idx]
    col = {name: i for i, name in enumerate(names)}
    ramp = np.clip(np.arange(frames) / 8, 0, 1)  # the expression builds up over 0.3 s
    wobble = 1 + 0.08 * np.sin(
        2 * np.pi * (np.arange(frames) / 25 / rng.uniform(1.5, 3.0)) + rng.uniform(0, 6.3)
    )
    scale = INTENSITY_SCALE[spec["intensity"]] * spk.expressive
    for shape, value in FACE[spec["emotion"]].items():
        params[:, col[shape]] += value * scale * ramp * wobble
    shut = closure[t_idx][:, None]
    opening = [col[n] for n in OPENING]
    params[:, opening] *= 1 - 0.97 * shut  # the lips meet on /p b m/ whatever the emotion
    t = rng.exponential(3.0) * 25
    while t < frames - 2:  # blinks: 0 -> 1 -> 0 over 5 frames
        for d, v in zip(range(-2, 3), (0.35, 0.8, 1.0, 0.8, 0.35)):
            if 0 <= int(t) + d < frames:
                for side in ("eyeBlink_L", "eyeBlink_R"):
                    params[int(t) + d, col[side]] = max(params[int(t) + d, col[side]], v)
        t += max(12, rng.exponential(3.0) * 25)
    pose = np.zeros((frames, 6), np.float32)
    tilt = {"sad": 0.08, "surprised": -0.05, "angry": 0.03}.get(spec["emotion"], 0.0) * scale
    for k in range(3):
        walk = np.cumsum(rng.normal(0, 0.004, frames))
        pose[:, k] = walk - np.linspace(0, walk[-1], frames) + (tilt if k == 0 else 0.0)
    return np.clip(params, 0, 1).astype(np.float32), pose


def in_silence(
    audio: np.ndarray, phonemes: list[tuple[str, float]], rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """Speech (N,) at 16 kHz between 0.1-0.6 s of silence on each side, all over a noise floor of
    -90 to -50 dBFS; phoneme times shifted, with a pause before and after. -> (N', ), phonemes"""
    lead, tail = (int(rng.uniform(0.1, 0.6) * 16000) for _ in range(2))
    floor = 10 ** (rng.uniform(-90, -50) / 20)
    out = np.concatenate([np.zeros(lead, np.float32), audio, np.zeros(tail, np.float32)])
    out = (out + rng.normal(0, floor, len(out))).astype(np.float32)
    shifted = (
        [("_", 0.0)] + [(p, t + lead / 16000) for p, t in phonemes] + [("_", (lead + len(audio)) / 16000)]
    )
    return out, shifted


class Synthetic:
    name = "synthetic"
    version = 2  # 2: utterances padded with silence over a noise floor
    content_options = ("seed",)  # the seed makes the data, not only the split
    how = __doc__.split("\n\n", 1)[1].replace("\n", " ")

    def discover(self, root: Path, opts: PrepOptions) -> tuple[list[Job], list[dict]]:
        n = int(opts.extra.get("speakers", 8))
        sentences, repetitions = int(opts.extra.get("sentences", 2)), int(opts.extra.get("repetitions", 1))
        for option, value, most in (("speakers", n, 64), ("sentences", sentences, len(SENTENCES))):
            if not 1 <= value <= most:  # more sentences than the bank holds gave clips one id
                raise TalkfaceError(f"--{option} {value}: use 1..{most}")
        if repetitions < 1:  # none, or no sentence: an empty store
            raise TalkfaceError(f"--repetitions {repetitions}: use 1 or more")
        jobs = []
        for spk in speakers(n, opts.seed):
            specs = clip_specs(spk, sentences, repetitions)
            jobs.append(
                Job(
                    spk.name,
                    "espeak-ng",
                    {"speaker": spk.name, "specs": specs},
                    "speaker",
                    outputs=[s["id"] for s in specs],
                )
            )
        return jobs, []

    def process(self, job: Job, out: Path, opts: PrepOptions) -> None:
        from talkface_cli.face.load import load_face_model

        spk = speakers(int(opts.extra.get("speakers", 8)), opts.seed)[int(job.id[1:])]
        specs = job.labels["specs"]
        requests = [
            {
                "text": s["statement"],
                "voice": spk.voice,
                **prosody(spk, s["emotion"], s["intensity"], s["repetition"]),
            }
            for s in specs
        ]
        with tempfile.TemporaryDirectory() as td:
            npz = Path(td) / "speech.npz"
            run = subprocess.run(
                [sys.executable, "-m", "data_recipes.synth_speech", str(npz)],
                input=json.dumps(requests),
                capture_output=True,
                text=True,
            )
            if run.returncode != 0:
                raise TalkfaceError(f"speech synthesis failed: {run.stderr.strip().splitlines()[-1:]}")
            with np.load(npz) as z:
                audios = [z[f"audio_{i}"] for i in range(len(specs))]
                phonemes = json.loads(str(z["phonemes"]))
        names = load_face_model("ict").param_names
        for spec, audio, ph in zip(specs, audios, phonemes):
            if is_written(out, spec["id"]):
                continue
            rng = np.random.default_rng(
                [opts.seed, int(hashlib.sha1(spec["id"].encode()).hexdigest()[:8], 16)]
            )
            audio, ph = in_silence(audio, [(p, float(t)) for p, t in ph], rng)
            frames = max(1, round(len(audio) / HOP))
            audio = np.pad(audio, (0, max(0, frames * HOP - len(audio))))[: frames * HOP]
            params, pose = face_sequence(spk, spec, ph, frames, names, rng)
            record = {
                "id": spec["id"],
                "source": f"espeak-ng:{spk.voice}",
                "corpus": "synthetic",
                "speaker": spk.name,
                **{k: spec[k] for k in ("emotion", "intensity", "statement", "repetition")},
                "prosody": requests[specs.index(spec)],
            }
            write_clip(
                out,
                record,
                {
                    "audio": audio,
                    "params": params,
                    "param_names": np.array(names),
                    "face_model": "ict",
                    "pose": pose,
                    "shape": np.array(spk.shape, np.float32),
                    "phonemes": np.array(json.dumps(ph)),
                },
            )
