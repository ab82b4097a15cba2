"""Scoring generated motion against held-out clips."""

from __future__ import annotations

import numpy as np
import torch

from ..inference.generate import generate, speaker_condition
from .metrics import lve

DEFAULT_TEMPERATURE = 0.5


@torch.no_grad()
def quick_lve(model, task, clips, device: torch.device, temperature: float = DEFAULT_TEMPERATURE) -> dict:  # noqa: ANN001
    """Held-out LVE (mm) of the model (emotion from each clip's own speech, its speaker when seen
    in training, else the speaker average) and of the mean-face baseline."""
    face = task.face
    ours, base = [], []
    mean = task.mean_params
    for c in clips:
        key = f"{c.store}:{c.id}"
        spk = str(c.record.get("speaker"))
        cond = speaker_condition(model, spk if spk in model.cfg.speakers else None)
        emotion = task.emotion[key].numpy()[None].repeat(2 * c.frames, 0)
        pred = generate(model, task.content[key].numpy(), emotion, cond, c.frames, temperature, seed=0)
        gt = torch.from_numpy(c.params).float().to(face.template.device)
        ours.append(lve(face, torch.from_numpy(pred).to(gt), gt))
        base.append(lve(face, mean[None].expand(c.frames, -1).to(gt), gt))
    return {
        "lve_mm": float(np.mean(ours)),
        "lve_mean_face_mm": float(np.mean(base)),
        "lve_ratio_to_mean_face": float(np.mean(ours) / np.mean(base)),
    }
