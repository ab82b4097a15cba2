"""`train-sync`: the lip-sync expert on a clip store's content features and lip landmarks.

Pairs: half in sync (audio window of the same 5 frames), half off sync: shifted windows of the
same clip (`min_shift`..`max_shift` frames either way) and, for `other_clip` of them, a window of
another clip. Drawn from torch's global generator, so resumed runs are exact.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from ..audio.features import CONTENT_DEFAULT, cached_features, content_encoder, encode, hubert_home
from ..config import to_dict
from ..data.datasets import Clip
from ..data.provenance import split_clips
from ..eval.sync import MAX_OFFSET, delay, sync_stats
from ..face.load import load_face_model
from ..fsutil import json_text
from ..models.sync import AUDIO_FRAMES, VIDEO_FRAMES, SyncExpert, SyncStage, sync_bce
from ..registry import Entry
from ..ui import progress
from .distributed import own_share_first
from .run import train_and_publish


@torch.no_grad()
def clip_lips(clip: Clip) -> torch.Tensor:
    """(T, 20, 3) lip-landmark motion of a clip's parameters, in cm."""
    model = load_face_model(clip.face_model or "ict")
    return model.lip_motion(torch.from_numpy(clip.params).float()).float()


class SyncTask:
    def __init__(self, cfg: SyncStage, stores: list[Path], content: str | None = None):
        cfg.check()
        self.cfg = cfg
        self.content_source = hubert_home(content) if content else CONTENT_DEFAULT  # None: no HuBERT
        self.encoder = content_encoder(self.content_source, cfg.model.content_layer)
        train, held = split_clips(stores, need_face=True)
        self.train = [c for c in train if c.frames > VIDEO_FRAMES]
        self.held = [c for c in held if c.frames > VIDEO_FRAMES]
        self.content: dict[str, torch.Tensor] = {}
        self.lips: dict[str, torch.Tensor] = {}
        with progress() as bar:
            job = bar.add_task(
                "content features and lip landmarks", total=len(self.train + self.held), unit="clip"
            )
            for c in own_share_first(self.train + self.held):
                key = f"{c.store}:{c.id}"
                feats = cached_features(c.store, c.id, self.encoder, c.audio, c.frames)
                self.content[key] = torch.from_numpy(feats).float()
                self.lips[key] = clip_lips(c)
                bar.advance(job)
        self.dim = next(iter(self.content.values())).shape[1]

    def build_model(self) -> SyncExpert:
        return SyncExpert(self._model_cfg())

    def _model_cfg(self):  # noqa: ANN202
        return dataclasses.replace(
            self.cfg.model,
            content_dim=self.dim,
            content=self.content_source,
            content_weights=self.encoder.weights,
        )

    def train_size(self) -> int:
        return len(self.train)

    def _pairs(self, clips: list[Clip], pool: list[Clip], gen: torch.Generator | None) -> dict:
        """One pair per clip: (10, D) audio window, (5, 20, 3) lip window, in-sync label."""
        cfg, audio, lips, label = self.cfg, [], [], []
        rand = lambda hi: int(torch.randint(0, hi, (), generator=gen))  # noqa: E731
        for c in clips:
            key = f"{c.store}:{c.id}"
            t = rand(c.frames - VIDEO_FRAMES + 1)
            src, ta, positive = key, t, rand(2) == 0
            if not positive:
                shifts = [
                    s
                    for s in range(-cfg.max_shift, cfg.max_shift + 1)
                    if abs(s) >= cfg.min_shift and 0 <= t + s <= c.frames - VIDEO_FRAMES
                ]
                if not shifts or torch.rand((), generator=gen) < cfg.other_clip:
                    other = pool[rand(len(pool))]
                    src, ta = f"{other.store}:{other.id}", rand(other.frames - VIDEO_FRAMES + 1)
                else:
                    ta = t + shifts[rand(len(shifts))]
            audio.append(self.content[src][2 * ta : 2 * ta + AUDIO_FRAMES])
            lips.append(self.lips[key][t : t + VIDEO_FRAMES])
            label.append(positive or (src == key and abs(ta - t) < cfg.min_shift))
        return {"content": torch.stack(audio), "lips": torch.stack(lips), "label": torch.tensor(label)}

    def batch(self, idx: torch.Tensor, device: torch.device) -> dict:
        b = self._pairs([self.train[i] for i in idx.tolist()], self.train, None)
        return {k: v.to(device) for k, v in b.items()}

    def loss(self, model: SyncExpert, b: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        prob = model(b["content"], b["lips"])
        acc = ((prob > 0.5) == b["label"]).float().mean()
        return sync_bce(prob, b["label"]), {"accuracy": float(acc)}

    @torch.no_grad()
    def validate(self, model: SyncExpert, device: torch.device) -> dict[str, float]:
        """In-sync / off-sync accuracy (threshold 0.5) on 16 fixed pairs per held-out clip."""
        if not self.held:
            return {}
        model.eval()
        gen = torch.Generator().manual_seed(1234)
        b = self._pairs(self.held * 16, self.held, gen)
        prob = model(b["content"].to(device), b["lips"].to(device)).cpu()
        lab = b["label"]
        model.train()
        return {
            "sync_accuracy": float(((prob > 0.5) == lab).float().mean()),
            "in_sync_accuracy": float((prob[lab] > 0.5).float().mean()),
            "off_sync_accuracy": float((prob[~lab] <= 0.5).float().mean()),
        }

    def offset_report(self, model: SyncExpert, device: torch.device) -> dict[str, float]:
        """Held-out clips with their audio delayed by 3..8 frames: how often the best offset is the
        true shift (within 1 frame), the mean LSE-D of ground truth vs shifted audio, and how often
        the ground truth's is the lower."""
        hits, d_true, d_shift = [], [], []
        for i, c in enumerate(self.held):
            k = 3 + i % 6
            if c.frames < 2 * MAX_OFFSET:
                continue
            key = f"{c.store}:{c.id}"
            shifted = torch.from_numpy(encode(self.encoder, delay(c.audio, k), c.frames)).float()
            s_true = sync_stats(model, self.content[key], self.lips[key])
            s_shift = sync_stats(model, shifted, self.lips[key])
            hits.append(abs(s_shift.offset - k) <= 1)
            d_true.append(s_true.lse_d)
            d_shift.append(s_shift.lse_d)
        if not hits:
            return {}
        return {
            "offset_recovery": float(np.mean(hits)),
            "lse_d_ground_truth": float(np.mean(d_true)),
            "lse_d_shifted": float(np.mean(d_shift)),
            "ground_truth_lower_fraction": float(np.mean(np.array(d_true) < np.array(d_shift))),
            "offset_clips": len(hits),
        }


def train_sync(
    cfg: SyncStage,
    stores: list[Path],
    name: str,
    content: str | None = None,
    run_dir: Path | None = None,
    resume: bool = False,
    device: str | None = None,
) -> tuple[dict, Entry | None]:
    """Train the expert, then publish it with its held-out accuracy and offset report."""
    task = SyncTask(cfg, stores, content)

    def finalize(model: SyncExpert) -> tuple[dict, dict, dict]:
        dev = next(model.parameters()).device
        report = {
            **task.validate(model, dev),
            **task.offset_report(model, dev),
            "held_out_clips": len(task.held),
        }
        final = dataclasses.replace(cfg, model=task._model_cfg())
        return (
            to_dict(final),
            {"metrics": report},
            {"report.json": json_text(report, sort_keys=False).encode()},
        )

    _, entry = train_and_publish(
        task, cfg, name, run_dir=run_dir, resume=resume, device=device, data=stores, finalize=finalize
    )
    return (entry.meta["metrics"] if entry else {}), entry
