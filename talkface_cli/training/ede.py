"""`train-ede`: the EDE on one or more clip stores, with the shared loop and registry."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from ..audio.features import Hubert, hubert_home, level_range
from ..config import to_dict
from ..data.datasets import Clip, random_start, window
from ..data.provenance import split_clips
from ..data.renders import cached_renders
from ..errors import TalkfaceError
from ..eval import emotion_space as es
from ..face.load import load_face_model
from ..fsutil import json_text
from ..models.ede import EDE, EDEStage, started_from
from ..registry import Entry
from ..ui import progress
from .distributed import own_share_first
from .losses import audio_visual, intensity_triplet, supcon
from .run import train_and_publish

FOUR = ("neutral", "happy", "sad", "angry")


def intensity_label(clip: Clip) -> str:
    return f"{clip.record['emotion']}/{clip.record.get('intensity') or 1}"


def speed_perturb(audio: np.ndarray, valid: int, frames: int, amount: float) -> tuple[np.ndarray, int]:
    """Play a window (N,) faster or slower by a random factor in 1 +- amount (tempo and pitch
    together, as in speech-recognition augmentation), cropped or zero-padded back to N; the number
    of valid frames follows. The factor comes from torch's global generator (checkpointed)."""
    r = 1 + amount * (2 * float(torch.rand(())) - 1)
    n = len(audio)
    pos = np.arange(int(np.ceil(n / r))) * r  # sample positions of the played window
    out = np.interp(pos[pos <= n - 1], np.arange(n), audio).astype(np.float32)
    out = out[:n] if len(out) >= n else np.pad(out, (0, n - len(out)))
    return out, max(1, min(frames, round(valid / r)))


class EDETask:
    """Batches of labelled clips: audio windows, render windows (clips with a face), labels."""

    def __init__(self, cfg: EDEStage, stores: list[Path], hubert: str | None = None):
        cfg.check()
        self.pretrained = None  # a HuBERT the audio branch starts from (--hubert)
        if hubert:
            if cfg.model.front != "wave":
                raise TalkfaceError(
                    f"--hubert {hubert}: starts the audio branch from HuBERT's waveform front end, and "
                    f"this preset's is {cfg.model.front} (use --preset paper or --set model.front=wave)"
                )
            found = Hubert(hubert)
            self.pretrained = found.model
            model = started_from(cfg.model, found.model, hubert_home(hubert), found.weights)
            cfg = dataclasses.replace(cfg, model=model)
            cfg.check()
        self.cfg = cfg
        self.train, self.held = split_clips(stores, labelled=True)
        self.emotions = sorted({c.record["emotion"] for c in self.train})
        self.levels = sorted({intensity_label(c) for c in self.train})
        self.renders: dict[str, np.ndarray] = {}
        face_clips = [c for c in self.train + self.held if c.params is not None]
        with progress() as bar:
            job = bar.add_task("renders for the video branch", total=len(face_clips), unit="clip")
            for c in own_share_first(face_clips):
                model = load_face_model(c.face_model or "ict")
                self.renders[f"{c.store}:{c.id}"] = cached_renders(
                    c.store, c.id, model, c.params, cfg.model.image_size
                )
                bar.advance(job)

    def build_model(self) -> EDE:
        model = EDE(dataclasses.replace(self.cfg.model, emotions=self.emotions, intensities=self.levels))
        if self.pretrained is not None:
            model.audio.start_from(self.pretrained)
        return model

    def train_size(self) -> int:
        return len(self.train)

    def _frames(self, clip: Clip, sl: slice, length: int) -> np.ndarray | None:
        r = self.renders.get(f"{clip.store}:{clip.id}")
        if r is None:
            return None
        f = r[sl]
        return np.concatenate([f, np.repeat(f[-1:], length - len(f), 0)]) if len(f) < length else f

    def batch(
        self,
        idx: torch.Tensor,
        device: torch.device,
        clips: list[Clip] | None = None,
        random: bool = True,
        length: int | None = None,
    ) -> dict:
        """Windows of `cfg.window` frames at random offsets, or of `length` frames centred when
        `random` is off (evaluation on whole clips)."""
        clips = clips or [self.train[i] for i in idx.tolist()]
        w = length or self.cfg.window
        audio, frames, has_video, mask = [], [], [], torch.zeros(len(clips), 2 * w)
        budget = self.cfg.video_per_batch if random and self.cfg.video_per_batch else len(clips)
        for k, c in enumerate(clips):
            start = random_start(c, w) if random else max(0, (c.frames - w) // 2)
            a, sl, valid = window(c, start, w)
            if random and self.cfg.speed_perturb:
                a, valid = speed_perturb(a, valid, w, self.cfg.speed_perturb)
            audio.append(a)
            mask[k, : 2 * valid] = 1
            f = self._frames(c, sl, w) if len(frames) < budget else None
            has_video.append(f is not None)
            if f is not None:
                frames.append(f)
        emo = torch.tensor(
            [
                self.emotions.index(c.record["emotion"]) if c.record["emotion"] in self.emotions else -1
                for c in clips
            ]
        )
        lvl = torch.tensor([int(c.record.get("intensity") or 1) for c in clips])
        video = torch.from_numpy(np.stack(frames)).float().div(255)[:, :, None] if frames else None
        return {
            "audio": torch.from_numpy(np.stack(audio)).to(device),
            "frames": None if video is None else video.to(device),
            "has_video": torch.tensor(has_video, device=device),
            "mask": mask.to(device),
            "emotion": emo.to(device),
            "intensity": lvl.to(device),
            "t": w,
        }

    def loss(self, model: torch.nn.Module, b: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """SupCon and triplet within each branch (deviation: the paper pools both modalities in one
        SupCon batch; pooled, the untrained audio side kept the video side from learning within a
        CPU budget), plus eq. 5 pulling audio frames onto the (detached) video frames of the clip."""
        a, v = model(b["audio"], b["frames"], b["t"], b["mask"])
        hv = b["has_video"]
        views = [(EDE.clip_embedding(a, b["mask"]), b["emotion"], b["intensity"])]
        if v is not None:
            views.append((EDE.clip_embedding(v, b["mask"][hv]), b["emotion"][hv], b["intensity"][hv]))
        cfg, total, parts = self.cfg, torch.zeros((), device=a.device), {}
        if cfg.w_contrastive:
            parts["contrastive"] = sum(supcon(z, e, cfg.temperature) for z, e, _ in views)
            total = total + cfg.w_contrastive * parts["contrastive"]
        if cfg.w_av and v is not None:
            # the video branch teaches the audio branch (stop-gradient on the video side)
            parts["audio_visual"] = audio_visual(a[hv], v.detach(), b["mask"][hv])
            total = total + cfg.w_av * parts["audio_visual"]
        if cfg.w_triplet:
            parts["triplet"] = sum(intensity_triplet(z, e, i, cfg.margin) for z, e, i in views)
            total = total + cfg.w_triplet * parts["triplet"]
        return total, {k: float(v.detach()) for k, v in parts.items()}

    @torch.no_grad()
    def embed(self, model: EDE, clips: list[Clip], device: torch.device) -> dict[str, np.ndarray]:
        """Clip embeddings (N, W) of both branches (video: NaN rows for audio-only clips), over
        whole clips (up to 10 s, centred)."""
        model.eval()
        za, zv = [], []
        for i in range(0, len(clips), 16):
            part = clips[i : i + 16]
            length = min(250, max(c.frames for c in part))
            b = self.batch(torch.empty(0), device, part, random=False, length=length)
            a, v = model(b["audio"], b["frames"], b["t"], b["mask"])
            za.append(EDE.clip_embedding(a, b["mask"]).cpu().numpy())
            rows = np.full((len(part), a.shape[-1]), np.nan, np.float32)
            if v is not None:
                rows[b["has_video"].cpu().numpy()] = (
                    EDE.clip_embedding(v, b["mask"][b["has_video"]]).cpu().numpy()
                )
            zv.append(rows)
        return {"audio": np.concatenate(za), "video": np.concatenate(zv)}

    def validate(self, model: EDE, device: torch.device) -> dict[str, float]:
        report = self.report(model, device)
        return {k: v for k, v in report.items() if isinstance(v, float)}

    def report(self, model: EDE, device: torch.device) -> dict:
        """Held-out emotion accuracy by nearest class centroid (centroids from the training split)
        per branch, intensity separation, audio-video agreement; also sets the model's centroids."""
        tr, he = (
            self.embed(model, self.train, device),
            self.embed(model, self.held, device) if self.held else None,
        )
        out: dict = {}
        emo_tr = [c.record["emotion"] for c in self.train]
        lvl_tr = [intensity_label(c) for c in self.train]
        for m in ("audio", "video"):
            ok = ~np.isnan(tr[m][:, 0])
            if not ok.any():
                continue
            names, cents = es.centroids(tr[m][ok], [e for e, k in zip(emo_tr, ok) if k])
            lnames, lcents = es.centroids(tr[m][ok], [e for e, k in zip(lvl_tr, ok) if k])
            getattr(model, f"centroids_{m}").copy_(_rows(self.emotions, names, cents))
            getattr(model, f"intensity_centroids_{m}").copy_(_rows(self.levels, lnames, lcents))
            if he is not None:
                hk = ~np.isnan(he[m][:, 0])
                truth = [c.record["emotion"] for c, k in zip(self.held, hk) if k]
                if truth:
                    out[f"{m}_accuracy"] = es.accuracy(es.nearest_centroid(he[m][hk], names, cents), truth)
                    if set(FOUR) <= set(names):  # the 4-class subset (RAVDESS's usual comparison)
                        out[f"{m}_accuracy_4class"] = es.subset_accuracy(he[m][hk], truth, names, cents, FOUR)
                    out[f"{m}_intensity_separation"] = es.intensity_separation(
                        he[m][hk], truth, [c.record.get("intensity") or 1 for c, k in zip(self.held, hk) if k]
                    )
                    out.update(self._per_store(f"{m}_accuracy", he[m], hk, names, cents))
        if he is not None:
            both = ~np.isnan(he["video"][:, 0])
            if both.any():
                out["av_cosine"] = float(np.mean(np.sum(he["audio"][both] * he["video"][both], 1)))
                names, cents = es.centroids(tr["audio"], emo_tr)
                truth = [c.record["emotion"] for c, k in zip(self.held, both) if k]
                out["video_by_audio_centroids_accuracy"] = es.accuracy(
                    es.nearest_centroid(he["video"][both], names, cents), truth
                )
        out["held_out_clips"] = len(self.held)
        out["_embeddings"] = (tr, he)
        return out

    def _per_store(
        self, key: str, z: np.ndarray, ok: np.ndarray, names: list[str], cents: np.ndarray
    ) -> dict[str, float]:
        """With several stores, held-out accuracy on each (synthetic and real speech differ):
        `key STORE` for the rows `ok` of held-out embeddings z (N, W)."""
        if len({c.store for c in self.train + self.held}) < 2:
            return {}
        stores = sorted({c.store for c, k in zip(self.held, ok) if k})
        short = [s.name for s in stores]
        out = {}
        for s in stores:
            rows = ok & np.array([c.store == s for c in self.held])
            truth = [c.record["emotion"] for c, r in zip(self.held, rows) if r]
            label = s.name if short.count(s.name) == 1 else str(s)
            out[f"{key} {label}"] = es.accuracy(es.nearest_centroid(z[rows], names, cents), truth)
        return out


def _rows(order: list[str], names: list[str], cents: np.ndarray) -> torch.Tensor:
    rows = torch.zeros(len(order), cents.shape[1])
    for n, c in zip(names, cents):
        if n in order:
            rows[order.index(n)] = torch.from_numpy(c)
    return rows


def train_ede(
    cfg: EDEStage,
    stores: list[Path],
    name: str,
    run_dir: Path | None = None,
    resume: bool = False,
    device: str | None = None,
    hubert: str | None = None,
) -> tuple[dict, Entry | None]:
    """Train, then publish the EDE with its centroids, held-out report and t-SNE picture; the
    audio branch starts from the local pretrained HuBERT `hubert` when given."""
    task = EDETask(cfg, stores, hubert)
    cfg = task.cfg  # with the pretrained HuBERT's architecture
    if len(task.emotions) < 2:
        raise TalkfaceError(f"{stores[0]}: the training split holds fewer than two emotions")

    def finalize(model: EDE) -> tuple[dict, dict, dict]:
        dev = next(model.parameters()).device
        report = task.report(model, dev)
        tr, he = report.pop("_embeddings")
        files = {"report.json": json_text(report, sort_keys=False).encode()}
        pts, emo, lvl, mod = [], [], [], []
        for m in ("audio", "video"):
            src, clips = (he, task.held) if he is not None else (tr, task.train)
            ok = ~np.isnan(src[m][:, 0])
            pts.append(src[m][ok])
            emo += [c.record["emotion"] for c, k in zip(clips, ok) if k]
            lvl += [c.record.get("intensity") or 1 for c, k in zip(clips, ok) if k]
            mod += [m] * int(ok.sum())
        pts = np.concatenate(pts)
        if 5 <= len(pts) <= 2000:
            files["tsne.png"] = es.tsne_png(es.tsne(pts, seed=cfg.train.seed), emo, lvl, mod)
        final = dataclasses.replace(
            cfg, model=dataclasses.replace(cfg.model, emotions=task.emotions, intensities=task.levels)
        )
        # what `animate` compares new speech with: the log-mel front hears the recording level
        levels = level_range([c.audio for c in task.train])
        return (
            to_dict(final),
            {"metrics": report, "emotions": task.emotions, "speech_level_dbfs": levels},
            files,
        )

    result, entry = train_and_publish(
        task, cfg, name, run_dir=run_dir, resume=resume, device=device, data=stores, finalize=finalize
    )
    return (entry.meta["metrics"] if entry else {}), entry
