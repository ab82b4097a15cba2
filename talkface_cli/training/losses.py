"""Losses of the EDE (eqs. 4, 5, 7) as pure functions on tensors."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def supcon(z: torch.Tensor, labels: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """Supervised contrastive loss (eq. 4, Khosla et al.): z (N, D) L2-normalised, labels (N,).

    For each anchor i with at least one positive: -1/|P(i)| sum_p log(exp(z_i.z_p/t) / sum_{a != i}
    exp(z_i.z_a/t)). Averaged over anchors (eq. 4 sums; the mean keeps the scale independent of
    the batch size)."""
    n = len(z)
    sim = z @ z.T / temperature  # (N, N)
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~self_mask
    count = pos.sum(1)
    has = count > 0
    if not has.any():
        return z.sum() * 0
    per_anchor = -(log_prob.masked_fill(~pos, 0).sum(1)[has]) / count[has]
    return per_anchor.mean()


def audio_visual(a: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 5: mean over the 2T frames of ||a_t - v_t||^2 between the two branches of one clip,
    on L2-normalised per-frame features (deviation: the paper's raw features could shrink to 0;
    normalised they live on the sphere SupCon uses). a, v (B, L, D), mask (B, L) -> scalar."""
    d = (F.normalize(a, dim=-1) - F.normalize(v, dim=-1)).pow(2).sum(-1)  # (B, L)
    if mask is None:
        return d.mean()
    return (d * mask).sum() / mask.sum().clamp_min(1)


def intensity_triplet(
    z: torch.Tensor, emotion: torch.Tensor, intensity: torch.Tensor, margin: float = 0.5
) -> torch.Tensor:
    """Eq. 7, batch-all mining: every (anchor, positive, negative) in the batch with all three of
    one emotion, the positive of the anchor's intensity and the negative of another intensity;
    [||z_a - z_p||^2 - ||z_a - z_n||^2 + margin]_+ averaged over the triplets that exist."""
    d = torch.cdist(z, z).pow(2)  # (N, N)
    same_emotion = emotion[:, None] == emotion[None, :]
    same_level = intensity[:, None] == intensity[None, :]
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    pos = same_emotion & same_level & ~eye  # (a, p)
    neg = same_emotion & ~same_level  # (a, n)
    valid = pos[:, :, None] & neg[:, None, :]  # (a, p, n)
    if not valid.any():
        return z.sum() * 0
    loss = F.relu(d[:, :, None] - d[:, None, :] + margin)
    return loss[valid].mean()
