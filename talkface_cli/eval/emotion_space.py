"""Probes of an emotion space: class centroids, nearest-centroid accuracy, intensity separation,
audio-video agreement, and a 2-D t-SNE picture (like EcoFace Fig. 3b)."""

from __future__ import annotations

import numpy as np


def centroids(z: np.ndarray, labels: list[str]) -> tuple[list[str], np.ndarray]:
    """Sorted label names and their L2-normalised mean embeddings (K, D)."""
    names = sorted(set(labels))
    lab = np.array(labels)
    c = np.stack([z[lab == n].mean(0) for n in names])
    return names, c / np.linalg.norm(c, axis=1, keepdims=True).clip(1e-12)


def nearest_centroid(z: np.ndarray, names: list[str], c: np.ndarray) -> list[str]:
    return [names[i] for i in np.argmax(z @ c.T, axis=1)]


def accuracy(pred: list[str], truth: list[str]) -> float:
    return float(np.mean([p == t for p, t in zip(pred, truth)])) if truth else float("nan")


def subset_accuracy(
    z: np.ndarray, truth: list[str], names: list[str], c: np.ndarray, keep: tuple[str, ...]
) -> float:
    """Nearest-centroid accuracy among the classes `keep` only, on the samples labelled with one."""
    rows = [names.index(k) for k in keep]
    idx = [i for i, t in enumerate(truth) if t in keep]
    return accuracy(nearest_centroid(z[idx], list(keep), c[rows]), [truth[i] for i in idx])


def intensity_separation(z: np.ndarray, emotions: list[str], intensities: list) -> float:
    """Mean over emotions with two intensities of: distance between the two intensity centroids
    divided by the mean distance of samples to their own intensity centroid (higher = the
    intensities of an emotion are more distinct)."""
    ratios = []
    em, it = np.array(emotions), np.array([str(i) for i in intensities])
    for e in sorted(set(emotions)):
        levels = sorted(set(it[em == e]))
        if len(levels) < 2:
            continue
        cs, spread = [], []
        for lv in levels[:2]:
            pts = z[(em == e) & (it == lv)]
            c = pts.mean(0)
            cs.append(c)
            spread.append(np.linalg.norm(pts - c, axis=1).mean())
        ratios.append(np.linalg.norm(cs[0] - cs[1]) / max(1e-9, float(np.mean(spread))))
    return float(np.mean(ratios)) if ratios else float("nan")


def tsne(x: np.ndarray, perplexity: float = 20.0, iters: int = 600, seed: int = 0) -> np.ndarray:
    """Exact t-SNE (van der Maaten & Hinton 2008) for a few hundred points: (N, D) -> (N, 2)."""
    n = len(x)
    perplexity = min(perplexity, max(2.0, (n - 1) / 3))
    d = np.square(x[:, None] - x[None]).sum(-1)
    p = np.zeros((n, n))
    target = np.log(perplexity)
    for i in range(n):  # binary search of each point's bandwidth
        lo, hi, beta = 0.0, np.inf, 1.0
        di = np.delete(d[i], i)
        for _ in range(50):
            pi = np.exp(-(di - di.min()) * beta)
            s = pi.sum()
            h = np.log(s) + beta * (di * pi).sum() / s - beta * di.min()
            if abs(h - target) < 1e-5:
                break
            if h > target:
                lo, beta = beta, beta * 2 if hi == np.inf else (beta + hi) / 2
            else:
                hi, beta = beta, (beta + lo) / 2
        p[i, np.arange(n) != i] = pi / s
    p = (p + p.T) / (2 * n)
    p = np.maximum(p, 1e-12)
    y = np.random.default_rng(seed).normal(0, 1e-4, (n, 2))
    vel, gains = np.zeros_like(y), np.ones_like(y)
    for it in range(iters):
        exag = 12.0 if it < 100 else 1.0
        num = 1 / (1 + np.square(y[:, None] - y[None]).sum(-1))
        np.fill_diagonal(num, 0)
        q = np.maximum(num / num.sum(), 1e-12)
        grad = 4 * (((exag * p - q) * num)[:, :, None] * (y[:, None] - y[None])).sum(1)
        gains = np.where(np.sign(grad) != np.sign(vel), gains + 0.2, gains * 0.8).clip(0.01)
        vel = (0.5 if it < 250 else 0.8) * vel - 200.0 * gains * grad
        y = y + vel
        y -= y.mean(0)
    return y


PALETTE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]


def tsne_png(
    y: np.ndarray, emotions: list[str], intensities: list, modalities: list[str], size: int = 720
) -> bytes:
    """A scatter plot as PNG bytes: colour = emotion, filled = strong intensity, circle = audio,
    square = video; legend on the right."""
    import cv2

    names = sorted(set(emotions))
    img = np.full((size, size + 180, 3), 255, np.uint8)
    lo, hi = y.min(0), y.max(0)
    pts = ((y - lo) / np.maximum(hi - lo, 1e-9) * (size - 60) + 30).astype(int)
    top = max(str(i) for i in intensities)
    for (px, py), e, i, m in zip(pts, emotions, intensities, modalities):
        colour = PALETTE[names.index(e) % len(PALETTE)][::-1]
        thick = -1 if str(i) == top else 2
        if m == "audio":
            cv2.circle(img, (int(px), int(py)), 6, colour, thick, cv2.LINE_AA)
        else:
            cv2.rectangle(
                img, (int(px) - 5, int(py) - 5), (int(px) + 5, int(py) + 5), colour, thick, cv2.LINE_AA
            )
    for k, n in enumerate(names):
        cv2.circle(img, (size + 20, 30 + 26 * k), 7, PALETTE[k % len(PALETTE)][::-1], -1, cv2.LINE_AA)
        cv2.putText(
            img, n, (size + 34, 36 + 26 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA
        )
    y0 = 40 + 26 * len(names)
    for k, text in enumerate(("o audio  [] video", "filled: strong", "hollow: normal")):
        cv2.putText(
            img, text, (size + 14, y0 + 22 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1, cv2.LINE_AA
        )
    ok, buf = cv2.imencode(".png", img)
    return buf.tobytes()
