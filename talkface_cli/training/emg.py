"""`train-emg`: the emotional motion generator on a clip store, with the frozen EDE (emotion
conditions and the emotion loss) and the frozen sync expert (sync loss and content encoder).

Loss (eq. 11): Gaussian reconstruction NLL of the parameters + KL(q || flow prior) (Monte Carlo)
+ w_sync * -log D_sync(predicted lips, content) + w_emotion * (1 - cos) of the EDE video features
of the rendered ground truth and rendered prediction. `--no-sync` swaps the sync term for a vertex
L2 loss (the paper's ablation), `--no-emotion` drops the emotion term, `--no-speaker` the speaker
embedding.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from ..audio.features import cached_features, trained_content_encoder
from ..config import to_dict
from ..data.cache import cache_path, cached_array
from ..data.datasets import Clip, random_start
from ..data.provenance import split_clips
from ..data.renders import cached_renders, face_camera, visible_faces
from ..errors import TalkfaceError
from ..face.load import load_face_model
from ..fsutil import json_text, sha256_file
from ..inference.emotion import pooled, speech_emotion
from ..models.emg import EMG, EMGStage
from ..models.sync import AUDIO_FRAMES, VIDEO_FRAMES
from ..registry import Entry, Registry
from ..render.diff import render_gray
from ..ui import progress
from .distributed import own_share_first
from .run import train_and_publish


def cached_emotion(
    store: Path, clip_id: str, ede: torch.nn.Module, ede_sha: str, audio: np.ndarray
) -> np.ndarray:
    """A clip's speech emotion as the EDE's audio branch reads it (pooled, (We,)), cached in the
    store per EDE weights: a paper-sized EDE (HuBERT-large) reads a large corpus for hours on the
    CPU, and every run on the same store and EDE (the ablations, a resumed run) read it again."""
    path = cache_path(store, f"emotion-{ede_sha[:16]}", f"{clip_id}.npy")
    return cached_array(path, 1, lambda: pooled(speech_emotion(ede, audio))[None])[0]


class EMGTask:
    def __init__(self, cfg: EMGStage, stores: list[Path], ede: str, sync: str):
        cfg.check()
        self.cfg, self.ede_name, self.sync_name = cfg, ede, sync
        reg = Registry()
        self.ede = reg.load_model(ede, "cpu", kind="ede").eval().requires_grad_(False)
        if cfg.w_emotion > 0 and not self.ede.centroids_video.any():  # no face in its training split
            raise TalkfaceError(
                f"{ede}: its video branch never saw a face (trained on speech alone), so the emotion "
                "loss would compare untrained features; train it on a store with tracked faces, or "
                "pass --no-emotion"
            )
        entry = reg.read(ede)
        ede_sha = entry.meta.get("model_sha256") or sha256_file(entry.path / "model.safetensors")
        self.sync = reg.load_model(sync, "cpu", kind="sync").eval().requires_grad_(False)
        self.content_source = self.sync.cfg.content
        encoder = trained_content_encoder(self.sync.cfg, sync)
        self.train, self.held = split_clips(stores, need_face=True)
        clips = self.train + self.held
        kinds = {c.face_model for c in clips}
        if len(kinds) > 1:
            raise TalkfaceError(
                f"{stores[0]}: clips of several face models ({', '.join(sorted(kinds))}); use one"
            )
        self.face = load_face_model(kinds.pop() or "ict")
        self.speakers = sorted({str(c.record.get("speaker")) for c in self.train})
        self.content, self.emotion, self.renders = {}, {}, {}
        size = self.ede.cfg.image_size
        with progress() as bar:
            job = bar.add_task("content, emotion and renders", total=len(clips), unit="clip")
            for c in own_share_first(clips):
                key = f"{c.store}:{c.id}"
                self.content[key] = torch.from_numpy(
                    cached_features(c.store, c.id, encoder, c.audio, c.frames)
                )
                self.emotion[key] = torch.from_numpy(
                    cached_emotion(c.store, c.id, self.ede, ede_sha, c.audio)
                )
                self.renders[key] = cached_renders(c.store, c.id, self.face, c.params, size)
                bar.advance(job)
        self.cam = face_camera(self.face, size)
        self.faces = visible_faces(self.face, self.cam)
        self.mean_params = torch.from_numpy(np.concatenate([c.params for c in self.train]).mean(0)).float()
        self._device = torch.device("cpu")

    def model_cfg(self):  # noqa: ANN201 - EMGConfig
        return dataclasses.replace(
            self.cfg.model,
            params=self.train[0].params.shape[1],
            face_model=self.face.kind,
            content_dim=next(iter(self.content.values())).shape[1],
            content=self.content_source,
            content_layer=self.sync.cfg.content_layer,
            content_weights=self.sync.cfg.content_weights,
            emotion_dim=self.ede.cfg.width,
            speakers=self.speakers,
        )

    def build_model(self) -> EMG:
        return EMG(self.model_cfg())

    def train_size(self) -> int:
        return len(self.train)

    def _to(self, device: torch.device) -> None:
        if device != self._device:
            for m in (self.ede, self.sync, self.face):
                m.to(device)
            self.faces, self._device = self.faces.to(device), device

    def window(self, clip: Clip, start: int, w: int) -> dict:
        """One clip's window of w frames from `start`, edge-padded: parameters (w, D), content
        (2w, Dc), emotion (2w, We), renders (w, S, S), valid frame count."""
        key = f"{clip.store}:{clip.id}"
        stop = min(clip.frames, start + w)
        pad = lambda x, n: torch.cat([x, x[-1:].expand(n - len(x), *x.shape[1:])]) if len(x) < n else x  # noqa: E731
        return {
            "params": pad(torch.from_numpy(clip.params[start:stop]).float(), w),
            "content": pad(self.content[key][2 * start : 2 * stop].float(), 2 * w),
            "emotion": self.emotion[key].float()[None].expand(2 * w, -1),
            "renders": pad(torch.from_numpy(self.renders[key][start:stop]), w),
            "valid": stop - start,
        }

    def speaker_index(self, clip: Clip) -> int:
        s = str(clip.record.get("speaker"))
        return self.speakers.index(s) if s in self.speakers else -1

    def batch(self, idx: torch.Tensor, device: torch.device) -> dict:
        self._to(device)
        clips = [self.train[i] for i in idx.tolist()]
        wins = [self.window(c, random_start(c, self.cfg.window), self.cfg.window) for c in clips]
        out = {
            k: torch.stack([w[k] for w in wins]).to(device)
            for k in ("params", "content", "emotion", "renders")
        }
        out["valid"] = torch.tensor([w["valid"] for w in wins], device=device)
        out["speaker"] = torch.tensor([self.speaker_index(c) for c in clips], device=device)
        starts = [
            torch.randint(0, max(1, w["valid"] - VIDEO_FRAMES + 1), (self.cfg.sync_windows,)) for w in wins
        ]
        out["sync_starts"] = torch.stack(starts).to(device)
        return out

    def _video_embedding(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T', S, S) grey renders in [0, 1] -> normalised EDE video clip embeddings (B, W)."""
        return torch.nn.functional.normalize(
            self.ede.video.frame_features(frames[:, :, None]).mean(1), dim=-1
        )

    def loss(self, model: EMG, b: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        pred, kl = model(b["params"], b["content"], b["emotion"], b["speaker"])
        mask = (torch.arange(pred.shape[1], device=pred.device)[None] < b["valid"][:, None]).float()  # (B, T)
        err = ((pred - b["params"]) ** 2).mean(-1)
        parts = {"recon": (err * mask).sum() / mask.sum() * cfg.recon_scale, "kl": kl.mean()}
        total = cfg.w_recon * parts["recon"] + cfg.w_kl * parts["kl"]
        if cfg.w_sync:
            parts["sync"] = self.sync_loss(pred, b)
            total = total + cfg.w_sync * parts["sync"]
        if cfg.w_mesh:
            parts["mesh"] = self.mesh_loss(pred, b["params"], mask)
            total = total + cfg.w_mesh * parts["mesh"]
        if cfg.w_emotion and cfg.emotion_clips:
            parts["emotion"] = self.emotion_loss(pred, b)
            total = total + cfg.w_emotion * parts["emotion"]
        return total, {k: float(v.detach()) for k, v in parts.items()}

    def sync_loss(self, pred: torch.Tensor, b: dict) -> torch.Tensor:
        """-log D_sync over `sync_windows` random 5-frame windows per clip."""
        content, lips = [], []
        for i in range(len(pred)):
            lm = self.face.lip_motion(pred[i])  # (T, 20, 3)
            for t in b["sync_starts"][i].tolist():
                lips.append(lm[t : t + VIDEO_FRAMES])
                content.append(b["content"][i, 2 * t : 2 * t + AUDIO_FRAMES])
        prob = self.sync(torch.stack(content), torch.stack(lips))
        return -torch.log(prob.clamp_min(1e-6)).mean()

    def mesh_loss(self, pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared vertex error in cm^2 over valid frames (the ablation without the sync loss)."""
        v = lambda p: self.face.expression_vertices(p.reshape(-1, p.shape[-1]), None)  # noqa: E731
        d = ((v(pred) - v(gt)) * 100).pow(2).sum(-1).mean(-1).reshape(mask.shape)
        return (d * mask).sum() / mask.sum()

    def emotion_loss(self, pred: torch.Tensor, b: dict) -> torch.Tensor:
        """1 - cos of the EDE video embeddings of the rendered GT and the rendered prediction, for
        the first `emotion_clips` clips, on the frames the video branch samples."""
        n, stride = min(len(pred), self.cfg.emotion_clips), self.ede.cfg.video_stride
        p = pred[:n, ::stride]  # (n, T', D)
        verts = self.face.expression_vertices(p.reshape(-1, p.shape[-1]), None)
        imgs = render_gray(verts, self.faces, self.cam)[:, 0].reshape(
            n, p.shape[1], self.cam.size, self.cam.size
        )
        gt = b["renders"][:n, ::stride].float() / 255
        cos = (self._video_embedding(imgs) * self._video_embedding(gt)).sum(-1)
        return (1 - cos).mean()

    def validate(self, model: EMG, device: torch.device) -> dict[str, float]:
        from ..eval.report import quick_lve

        return quick_lve(model, self, self.held, device) if self.held else {}


def train_emg(
    cfg: EMGStage,
    stores: list[Path],
    name: str,
    ede: str,
    sync: str,
    run_dir: Path | None = None,
    resume: bool = False,
    device: str | None = None,
) -> tuple[dict, Entry | None]:
    """Train the EMG and publish it with its parents (EDE, sync expert) and held-out LVE."""
    task = EMGTask(cfg, stores, ede, sync)

    def finalize(model: EMG) -> tuple[dict, dict, dict]:
        report = {**task.validate(model, next(model.parameters()).device), "held_out_clips": len(task.held)}
        final = dataclasses.replace(cfg, model=task.model_cfg())
        more = {"metrics": report, "mean_params": task.mean_params.tolist()}
        return to_dict(final), more, {"report.json": json_text(report, sort_keys=False).encode()}

    # the parents' weights too: `Registry.parent` then tells them from others under their names
    shas = {str(e.ref): e.meta["model_sha256"] for e in map(Registry().read, (ede, sync))}
    meta = {"parents": [ede, sync], "ede": ede, "sync": sync, "parent_sha256": shas}
    _, entry = train_and_publish(
        task,
        cfg,
        name,
        run_dir=run_dir,
        resume=resume,
        device=device,
        meta=meta,
        data=stores,
        finalize=finalize,
    )
    return (entry.meta["metrics"] if entry else {}), entry
