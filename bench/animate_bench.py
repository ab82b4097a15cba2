"""Animation speed: the EMG (decoder alone: flow prior + decoder; end to end: log-mel content,
EDE emotion, EMG) against a FaceFormer-sized autoregressive transformer decoder (d=128, 4 heads,
1 layer, FFN 256, causal self-attention over its own past outputs plus cross-attention to the
audio features, re-run over the whole prefix for every frame as FaceFormer's inference does) on
the same features, for 4, 16 and 64 s of speech. Untrained weights: speed does not depend on them.
Also the peak memory of animating a 5-minute and an hour-long 48 kHz stereo wav end to end, and
of loading the hour."""

from __future__ import annotations

import math
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import nn

from bench.common import mean_over, publish, timed
from talkface_cli import presets  # noqa: F401
from talkface_cli.audio.io import load_audio
from talkface_cli.config import make_config
from talkface_cli.inference.emotion import emotion_track, speech_emotion
from talkface_cli.inference.generate import generate, speaker_condition
from talkface_cli.models.ede import EDE
from talkface_cli.models.emg import EMG

SECONDS = (4, 16, 64)


class ARTransformerDecoder(nn.Module):
    """FaceFormer's decoder (BIWI size) and its predict() loop, in face-parameter space: one
    transformer decoder layer (d=128, 4 heads, FFN 256); every step adds the periodic positional
    encoding to the whole prefix, self-attends under the ALiBi-style biased causal mask, cross-attends
    to all 2T audio features under the alignment mask (frame i sees features 2i, 2i+1), maps every
    output of the prefix to the parameters and feeds the last one back through the motion embedding
    plus the style embedding. Masks are sliced from ones built once (FaceFormer rebuilds the
    alignment mask per step in a Python loop; left out, in the baseline's favour)."""

    def __init__(self, feat: int, params: int = 53, d: int = 128, heads: int = 4, period: int = 25):
        super().__init__()
        self.audio = nn.Linear(feat, d)
        self.motion_in = nn.Linear(params, d)
        self.style = nn.Parameter(torch.randn(1, 1, d) * 0.1)  # one speaker's one-hot embedding
        self.layer = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, heads, 2 * d, batch_first=True), 1)
        self.out = nn.Linear(d, params)
        self.heads, self.period = heads, period
        pos = torch.arange(period)[:, None] * torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
        self.register_buffer("ppe", torch.stack([pos.sin(), pos.cos()], -1).reshape(period, d))

    def masks(self, t: int, s: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Biased causal mask (heads, t, t) and alignment mask (t, s), True = masked."""
        i = torch.arange(t)
        slopes = 2.0 ** (-8.0 * torch.arange(1, self.heads + 1) / self.heads)  # ALiBi slopes
        bias = -slopes[:, None, None] * torch.div(i[:, None] - i[None], self.period, rounding_mode="floor")
        causal = torch.where(i[None] <= i[:, None], bias, torch.tensor(float("-inf")))
        return causal, (torch.arange(s)[None] // 2 != i[:, None])

    @torch.no_grad()
    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """feats (1, 2T, F) -> (1, T, D), one frame at a time."""
        t = feats.shape[1] // 2
        mem = self.audio(feats)  # (1, 2T, d)
        tgt_mask, mem_mask = self.masks(t, mem.shape[1])
        ppe = self.ppe.repeat(-(-t // self.period), 1)
        emb = self.style
        for i in range(t):
            x = emb + ppe[: i + 1]
            y = self.layer(x, mem, tgt_mask=tgt_mask[:, : i + 1, : i + 1], memory_mask=mem_mask[: i + 1])
            motion = self.out(y)  # the whole prefix, as FaceFormer's vertice_map_r
            emb = torch.cat([emb, self.motion_in(motion[:, -1:]) + self.style], 1)
        return motion


def untrained() -> tuple[EDE, EMG]:
    """Tiny-preset EDE and EMG with seeded random weights."""
    torch.manual_seed(0)
    ede_cfg = make_config("ede", "tiny").model
    ede_cfg.emotions, ede_cfg.intensities = ["neutral"], ["neutral/1"]
    ede = EDE(ede_cfg).eval()
    for name, centroids in ede.named_buffers():  # as training leaves them: one unit row per class
        if name.startswith(("centroids_", "intensity_centroids_")):
            centroids.copy_(nn.functional.normalize(torch.randn_like(centroids), dim=-1))
    emg_cfg = make_config("emg", "tiny").model
    emg_cfg.emotion_dim, emg_cfg.speakers = ede_cfg.width, ["a", "b"]
    emg = EMG(emg_cfg).eval()
    return ede, emg


def main() -> None:
    ede, emg = untrained()
    from talkface_cli.audio.features import content_encoder, encode

    encoder = content_encoder()  # what animate uses: levelled log-mel, steady noise removed
    ar = ARTransformerDecoder(80).eval()
    spk = speaker_condition(emg, None)
    rows = []
    for secs in SECONDS:
        t = secs * 25
        audio = (0.1 * np.random.default_rng(secs).normal(size=t * 640)).astype(np.float32)
        content = encode(encoder, audio, t)
        emotion = emotion_track([speech_emotion(ede, audio).mean(0)], t)

        def end_to_end(a=audio, n=t):
            generate(emg, encode(encoder, a, n), emotion_track(list(speech_emotion(ede, a)), n), spk, n)

        # This is a shared machine whose speed drifts. In each round the AR decoder runs once and
        # then ours runs back to back for as long (at most 2 s), timed as the mean per call: both
        # sides are measured over the same stretch of time, with no lucky single calls. 3 rounds up
        # to 16 s, each side keeps its best round.
        dec = e2e = ar_s = float("inf")
        for _ in range(3 if secs <= 16 else 1):
            ar_once = timed(lambda f=torch.from_numpy(content)[None]: ar(f))
            ar_s = min(ar_s, ar_once)
            window = min(ar_once, 2.0)
            dec = min(dec, mean_over(lambda c=content, e=emotion, n=t: generate(emg, c, e, spk, n), window))
            e2e = min(e2e, mean_over(end_to_end, window))
        rows.append(
            {
                "speech_s": secs,
                "emg_decoder_s": dec,
                "emg_end_to_end_s": e2e,
                "ar_transformer_s": ar_s,
                "rtf_emg_decoder": secs / dec,
                "rtf_emg_end_to_end": secs / e2e,
                "rtf_ar_transformer": secs / ar_s,
                "decoder_speedup_vs_ar": ar_s / dec,
                "end_to_end_speedup_vs_ar": ar_s / e2e,
            }
        )
    for r in rows:  # linear in length: time per second of speech relative to the 4 s run
        r["emg_e2e_cost_per_s_vs_4s"] = (r["emg_end_to_end_s"] / r["speech_s"]) / (
            rows[0]["emg_end_to_end_s"] / rows[0]["speech_s"]
        )
        r["goal_50x_at_4s"] = r["decoder_speedup_vs_ar"] >= 50 if r["speech_s"] == 4 else None
    publish("animate", f"animate speed, tiny presets, {torch.get_num_threads()} threads", rows)
    with tempfile.TemporaryDirectory() as folder:  # speech as recorders write it: 48 kHz stereo wav
        five, hour = Path(folder) / "five.wav", Path(folder) / "hour.wav"
        speech_wav(five, 300)
        speech_wav(hour, 3600)
        peaks = {s: child_peak("--animate", wav) for s, wav in ((300, five), (3600, hour))}
        publish("animate_memory", "animate a 48 kHz stereo wav end to end (own process)", [
            {"speech_s": s, "peak_memory_gib": peak, "goal_4gib_met": peak <= 4 if s == 300 else None}
            for s, peak in peaks.items()
        ])  # fmt: skip
        peak = child_peak("--load", hour)
        publish("audio_load_memory", "load_audio of a 1-hour 48 kHz stereo 16-bit wav (own process)", [{
            "speech_s": 3600,
            "peak_memory_gib": peak,
            "its_samples_as_float32_gib": 3600 * 48000 * 2 * 4 / 1024**3,  # what a whole-file read holds
            "its_16k_mono_gib": 3600 * 16000 * 4 / 1024**3,  # what it returns
        }])  # fmt: skip


def speech_wav(path: Path, seconds: int) -> None:
    """A 48 kHz stereo 16-bit wav of `seconds` of noise at speech level, written a minute at a time."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", 48000, 2, "PCM_16") as f:
        for start in range(0, seconds, 60):
            f.write((0.1 * rng.normal(size=(48000 * min(60, seconds - start), 2))).astype(np.float32))


def child_peak(*args: object) -> float:
    """The peak resident memory (GiB) of `python -m bench.animate_bench ARGS` in its own process:
    it prints its VmHWM. ru_maxrss would not do: RUSAGE_CHILDREN is the largest of every child so
    far, and a forked child's own ru_maxrss starts at the parent's resident size (0.84 GiB under
    `make bench`)."""
    cmd = [sys.executable, "-m", "bench.animate_bench", *map(str, args)]
    return float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()[-1]) / 1024**2


def animate(wav: Path) -> None:
    """Animate the speech of `wav` end to end in this process and print its peak memory."""
    ede, emg = untrained()
    from talkface_cli.audio.features import content_encoder, encode

    audio = load_audio(wav)
    t = len(audio) // 640
    content = encode(content_encoder(), audio, t)
    out = generate(
        emg, content, emotion_track(list(speech_emotion(ede, audio)), t), speaker_condition(emg, None), t
    )
    assert out.shape == (t, 53)
    print_peak()


def print_peak() -> None:
    """This process's peak resident memory in KiB, on stdout."""
    status = Path("/proc/self/status")  # VmHWM: this process's peak resident size since exec, KiB
    if status.exists():
        print(next(x for x in status.read_text().splitlines() if x.startswith("VmHWM")).split()[1])
    else:  # macOS: ru_maxrss in bytes
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


if __name__ == "__main__":
    if "--animate" in sys.argv:
        animate(Path(sys.argv[-1]))
    elif "--load" in sys.argv:
        load_audio(Path(sys.argv[-1]))
        print_peak()
    else:
        main()
